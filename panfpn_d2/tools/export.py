"""Export a PanFPN model for deployment: ONNX (for ONNX Runtime, e.g. ``panfpn-predict``) or TorchScript.

    python -m panfpn_d2.tools.export --config-file C --format {onnx,torchscript} --output DIR [--opts KEY VALUE ...]
    python -m panfpn_d2.tools.export --config-file C --format onnx --output DIR \
        --quantize int8 --calibration-images FOLDER [--calibration-count N] [--opts ...]

Writes ``DIR/model.onnx`` or ``DIR/model.ts`` (the network with the weights of MODEL.WEIGHTS,
dynamic image size) and ``DIR/panfpn_export.json`` (input format, pixel mean/std, test resize,
categories, merge thresholds). Where the graph is cut: ``panfpn_d2.deploy.graph``.
``--quantize int8`` writes the ONNX model statically quantized, calibrated on the first N images
of FOLDER (``panfpn_d2.deploy.quantize``); ``panfpn-predict --precision int8`` runs it.
"""
import argparse
import logging
import os
from typing import Optional

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

from panfpn_lite.runtime.model import MODEL_FILES

from ..deploy.graph import PanFPNExportGraph, sample_image
from ..deploy.metadata import export_metadata, write_metadata
from ..deploy.onnx import export_onnx
from ..deploy.quantize import DEFAULT_CALIBRATION_COUNT, calibration_images, quantize_int8
from ..deploy.torchscript import export_torchscript
from ..config import load_config
from .cli import add_config_arguments

logger = logging.getLogger(__name__)
EXPORTERS = {"onnx": export_onnx, "torchscript": export_torchscript}
QUANTIZATIONS = ("int8",)


def export_model(
    cfg, export_format: str, output_dir: str, quantize: Optional[str] = None,
    calibration_folder: Optional[str] = None, calibration_count: int = DEFAULT_CALIBRATION_COUNT,
) -> str:
    """Export the model of ``cfg`` (weights MODEL.WEIGHTS) to ``output_dir``; return the model file.
    ``quantize="int8"``: an ONNX model quantized with the first ``calibration_count`` images of
    ``calibration_folder`` as calibration."""
    if export_format not in EXPORTERS:
        raise ValueError(f"--format must be one of {sorted(EXPORTERS)}, got {export_format!r}")
    if quantize is not None:
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"--quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
        if export_format != "onnx":
            raise ValueError(f"--quantize {quantize} needs --format onnx, got --format {export_format}")
        if calibration_folder is None:
            raise ValueError(f"--quantize {quantize} needs --calibration-images FOLDER (images of your data)")
        # Checked before the export, so that a wrong folder fails in a second, not after it.
        calibration_paths = calibration_images(calibration_folder, calibration_count)
    elif calibration_folder is not None:
        raise ValueError("--calibration-images is for --quantize int8")
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
    fp32_path = model_path + ".fp32.partial"
    try:
        if quantize is None:
            EXPORTERS[export_format](graph, sample_image(cfg), partial_path)
        else:
            EXPORTERS[export_format](graph, sample_image(cfg), fp32_path)
            fp32_nodes = quantize_int8(fp32_path, partial_path, calibration_paths, metadata)
            metadata["quantization"] = {
                "precision": quantize,
                "calibration_images": len(calibration_paths),
                "fp32_nodes": fp32_nodes,
            }
        os.replace(partial_path, model_path)
    finally:
        for path in (partial_path, fp32_path):
            if os.path.exists(path):
                os.remove(path)
    write_metadata(metadata, output_dir)
    return model_path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", required=True, choices=sorted(EXPORTERS), help="export format")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the model and its metadata")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, help="static quantization of the ONNX model")
    parser.add_argument(
        "--calibration-images", metavar="FOLDER", help="images of your data to calibrate --quantize on"
    )
    parser.add_argument(
        "--calibration-count", type=int, default=DEFAULT_CALIBRATION_COUNT, metavar="N",
        help=f"calibrate on the first N images of the folder, by name (default {DEFAULT_CALIBRATION_COUNT})",
    )
    add_config_arguments(parser)
    return parser


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="panfpn_d2")
    cfg = load_config(args.config_file, list(args.opts) + ["MODEL.DEVICE", "cpu"])
    model_path = export_model(
        cfg, args.format, args.output, args.quantize, args.calibration_images, args.calibration_count
    )
    logger.info(f"exported {model_path} and its metadata to {args.output}")


if __name__ == "__main__":
    main()
