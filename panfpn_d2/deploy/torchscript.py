"""TorchScript export of :class:`PanFPNExportGraph`: a traced module that ``torch.jit.load``
runs without detectron2 or panfpn_d2 (torchvision's operators must be loaded: ``import
torchvision`` in Python, libtorchvision in C++)."""
import warnings

import torch

from .graph import PanFPNExportGraph


def export_torchscript(graph: PanFPNExportGraph, sample: torch.Tensor, path: str) -> None:
    """Trace the graph on ``sample`` and save it to ``path``."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        traced = torch.jit.trace(graph, (sample,), check_trace=False)
    traced.save(path)
