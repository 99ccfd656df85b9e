"""The torch- and detectron2-free part of panfpn_d2: the COCO panoptic format, the semantic label
layout, the writer of panoptic predictions, panoptic quality (``panfpn-pq``) and the deployment
runtime (``panfpn-predict``, ONNX Runtime + numpy).

Nothing here imports torch or detectron2, so these run where neither is installed and start fast.
"""
