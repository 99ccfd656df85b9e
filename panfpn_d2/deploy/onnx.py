"""ONNX export of :class:`PanFPNExportGraph` with dynamic image size and number of instances."""
import warnings

import torch

from panfpn_lite.runtime.model import INPUT_NAME, OUTPUT_NAMES

from .graph import PanFPNExportGraph

# 16 is the first opset with RoiAlign's half-pixel ("aligned") coordinates.
OPSET_VERSION = 17
DYNAMIC_AXES = {
    INPUT_NAME: {1: "height", 2: "width"},
    "boxes": {0: "instances"},
    "scores": {0: "instances"},
    "classes": {0: "instances"},
    "mask_probs": {0: "instances"},
    "semantic_logits": {2: "semantic_height", 3: "semantic_width"},
}


def export_onnx(graph: PanFPNExportGraph, sample: torch.Tensor, path: str) -> None:
    """Write the graph to ``path`` by tracing it on ``sample``.

    torch.onnx's TorchScript-based exporter (``dynamo=False``): detectron2's inference is written
    for tracing (``torch.jit.is_tracing`` branches give dynamic shapes), while ``torch.export``
    stops at its data-dependent guards.
    """
    with torch.no_grad(), warnings.catch_warnings():
        # Tracer warnings about Python values are expected: the graph's data-dependent sizes
        # are taken care of by detectron2's tracing branches and checked by the tests.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        torch.onnx.export(
            graph,
            (sample,),
            path,
            dynamo=False,
            opset_version=OPSET_VERSION,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=DYNAMIC_AXES,
        )
