"""Export of a PanFPN model to ONNX and TorchScript (``python -m panfpn_d2.tools.export``).

The graph (:class:`PanFPNExportGraph`) is the whole network up to where data-dependent host
logic begins; ``panfpn_lite.runtime`` runs the ONNX export without torch.
"""
from .graph import PanFPNExportGraph
from .metadata import export_metadata, write_metadata
from .onnx import export_onnx
from .torchscript import export_torchscript

__all__ = ["PanFPNExportGraph", "export_metadata", "write_metadata", "export_onnx", "export_torchscript"]
