"""The export's files as the runtime reads them: the metadata file and the ONNX model.

The metadata schema is defined here, on the torch-free side, and written by
``panfpn_d2.deploy.metadata``; ``FORMAT_VERSION`` changes whenever its meaning does.
"""
import json
import os
from typing import Dict, Optional

import numpy as np

FORMAT_VERSION = 1
METADATA_FILE = "panfpn_export.json"
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.ts"}
INPUT_NAME = "image"
# The exported graph's outputs, in order (see panfpn_d2.deploy.graph.PanFPNExportGraph).
OUTPUT_NAMES = ("boxes", "scores", "classes", "mask_probs", "semantic_logits")
# Top-level keys every metadata file of FORMAT_VERSION has.
METADATA_KEYS = ("format_version", "format", "model_file", "input", "instances", "semantic", "merge", "dataset")


class ModelFileError(ValueError):
    """An export folder's file is missing, unreadable or of another version; the message names it."""


def load_metadata(model_dir: str) -> dict:
    """The checked metadata of the export in ``model_dir``."""
    path = os.path.join(model_dir, METADATA_FILE)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file; --model must be a folder written by panfpn_d2.tools.export")
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: not a readable JSON metadata file ({e})") from e
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: expected a JSON object, got {type(metadata).__name__}")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {version!r}, but this runtime reads format_version {FORMAT_VERSION}; "
            "export the model again with this version of panfpn_d2"
        )
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise ModelFileError(f"{path}: missing keys {missing}")
    return metadata


class OnnxPanFPN:
    """An exported PanFPN in an ONNX Runtime session: ``run(image)`` -> the graph's outputs by name."""

    def __init__(self, model_dir: str, num_threads: Optional[int] = None):
        # Imported here so that reading metadata does not need onnxruntime.
        import onnxruntime

        self.metadata = load_metadata(model_dir)
        if self.metadata["format"] != "onnx":
            raise ModelFileError(
                f"{os.path.join(model_dir, METADATA_FILE)}: describes a {self.metadata['format']!r} export; "
                "panfpn-predict runs ONNX exports (--format onnx)"
            )
        self.model_path = os.path.join(model_dir, self.metadata["model_file"])
        if not os.path.isfile(self.model_path):
            raise ModelFileError(f"{self.model_path}: no such file (named by {METADATA_FILE})")
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        # Quiet: a load failure is re-raised below with the file's name, before any image is read.
        options.log_severity_level = 4
        try:
            self.session = onnxruntime.InferenceSession(
                self.model_path, options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types, not exported by name
            raise ModelFileError(f"{self.model_path}: not a loadable ONNX model ({e})") from e
        names = tuple(output.name for output in self.session.get_outputs())
        if names != OUTPUT_NAMES:
            raise ModelFileError(f"{self.model_path}: outputs {names}, expected {OUTPUT_NAMES}")

    def run(self, image_chw: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph's outputs for one resized (3, H, W) float32 image in the export's input format."""
        outputs = self.session.run(None, {INPUT_NAME: np.ascontiguousarray(image_chw, dtype=np.float32)})
        return dict(zip(OUTPUT_NAMES, outputs))
