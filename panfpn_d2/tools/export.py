"""Export a PanFPN model for deployment: ONNX (for ONNX Runtime, e.g. ``panfpn-predict``) or TorchScript.

    python -m panfpn_d2.tools.export --config-file C --format {onnx,torchscript} --output DIR [--opts KEY VALUE ...]

Writes ``DIR/model.onnx`` or ``DIR/model.ts`` (the network with the weights of MODEL.WEIGHTS,
dynamic image size) and ``DIR/panfpn_export.json`` (input format, pixel mean/std, test resize,
categories, merge thresholds). Where the graph is cut: ``panfpn_d2.deploy.graph``.
"""
import argparse
import logging
import os

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

from panfpn_lite.runtime.model import MODEL_FILES

from ..deploy.graph import PanFPNExportGraph, sample_image
from ..deploy.metadata import export_metadata, write_metadata
from ..deploy.onnx import export_onnx
from ..deploy.torchscript import export_torchscript
from ..config import load_config
from .cli import add_config_arguments

logger = logging.getLogger(__name__)
EXPORTERS = {"onnx": export_onnx, "torchscript": export_torchscript}


def export_model(cfg, export_format: str, output_dir: str) -> str:
    """Export the model of ``cfg`` (weights MODEL.WEIGHTS) to ``output_dir``; return the model file."""
    if export_format not in EXPORTERS:
        raise ValueError(f"--format must be one of {sorted(EXPORTERS)}, got {export_format!r}")
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    else:
        logger.warning("MODEL.WEIGHTS is empty: exporting random weights")
    graph = PanFPNExportGraph(model.eval().cpu())
    metadata = export_metadata(cfg, model, export_format)
    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, MODEL_FILES[export_format])
    # Written under a temporary name and renamed, so that a failed export leaves no model file.
    partial_path = model_path + ".partial"
    try:
        EXPORTERS[export_format](graph, sample_image(cfg), partial_path)
        os.replace(partial_path, model_path)
    finally:
        if os.path.exists(partial_path):
            os.remove(partial_path)
    write_metadata(metadata, output_dir)
    return model_path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", required=True, choices=sorted(EXPORTERS), help="export format")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the model and its metadata")
    add_config_arguments(parser)
    return parser


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="panfpn_d2")
    cfg = load_config(args.config_file, list(args.opts) + ["MODEL.DEVICE", "cpu"])
    model_path = export_model(cfg, args.format, args.output)
    logger.info(f"exported {model_path} and its metadata to {args.output}")


if __name__ == "__main__":
    main()
