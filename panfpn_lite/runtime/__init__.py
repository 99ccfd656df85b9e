"""Run an exported PanFPN (``python -m panfpn_d2.tools.export``) with ONNX Runtime or OpenVINO and numpy.

Nothing here imports torch or detectron2: ``pip install --no-deps panfpn_d2`` plus
``pip install numpy Pillow onnxruntime`` (or ``openvino``) is enough (see docs/deployment.md).
"""
