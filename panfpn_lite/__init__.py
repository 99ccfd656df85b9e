"""The torch- and detectron2-free part of panfpn_d2: the COCO panoptic format, the writer of
panoptic predictions, and panoptic quality (``panfpn-pq``).

Nothing here imports torch or detectron2, so these run where neither is installed and start fast.
"""
