"""The export's files as the runtime reads them: the metadata file and the ONNX model, run by
ONNX Runtime or OpenVINO.

The metadata schema is defined here, on the torch-free side, and written by
``panfpn_d2.deploy.metadata``; ``FORMAT_VERSION`` changes whenever its meaning does.
"""
import importlib
import json
import mmap
import os
from typing import AbstractSet, Dict, Optional

import numpy as np

from ..merge_settings import MergeSettings
from .precision import choose_precision, cpu_flags

# 2: "merge" holds MergeSettings' field names (overlap_thresh, stuff_area_limit,
# instances_confidence_thresh); 1 spelled the confidence threshold instances_score_thresh.
FORMAT_VERSION = 2
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
    try:
        MergeSettings.from_metadata(metadata["merge"], path)
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    return metadata


def model_file(model_dir: str, metadata: dict) -> str:
    """The path of the checked ONNX model file that ``metadata`` (of ``model_dir``) names."""
    if metadata["format"] != "onnx":
        raise ModelFileError(
            f"{os.path.join(model_dir, METADATA_FILE)}: describes a {metadata['format']!r} export; "
            "panfpn-predict runs ONNX exports (--format onnx)"
        )
    path = os.path.join(model_dir, metadata["model_file"])
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file (named by {METADATA_FILE})")
    return path


# Operators only a quantized ONNX model has (ONNX Runtime's QDQ and QOperator formats).
QUANTIZED_OPERATORS = (b"QuantizeLinear", b"QLinearConv", b"ConvInteger", b"MatMulInteger")


def is_quantized(model_path: str) -> bool:
    """Whether the ONNX file has quantized operators. Its node types are plain strings in the
    protobuf, so a byte search finds them without the onnx package."""
    if os.path.getsize(model_path) == 0:
        return False
    with open(model_path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return any(data.find(name) >= 0 for name in QUANTIZED_OPERATORS)


def import_backend(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is not installed ({e}); pip install 'panfpn_d2[{extra}]'") from e


def check_outputs(model_path: str, names) -> None:
    """``names``: each output's name, or its set of names (OpenVINO gives a tensor all the names
    it has in the graph)."""
    names = tuple(names)
    if not all(expected == name or expected in name for expected, name in zip(OUTPUT_NAMES, names)):
        raise ModelFileError(f"{model_path}: outputs {names}, expected {OUTPUT_NAMES}")


class OnnxPanFPN:
    """An exported PanFPN in an ONNX Runtime session: ``run(image)`` -> the graph's outputs by name.

    ``precision`` fp32 or int8 (a quantized model file); ONNX Runtime has no bf16 CPU path.
    """

    backend = "onnxruntime"

    def __init__(self, model_dir: str, num_threads: Optional[int] = None, precision: str = "fp32"):
        # Imported here so that reading metadata does not need onnxruntime.
        onnxruntime = import_backend("onnxruntime", "runtime")
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision {precision!r}: ONNX Runtime runs the graph in fp32 or int8")
        self.metadata = load_metadata(model_dir)
        self.model_path = model_file(model_dir, self.metadata)
        self.precision = precision
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
        check_outputs(self.model_path, (output.name for output in self.session.get_outputs()))

    def run(self, image_chw: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph's outputs for one resized (3, H, W) float32 image in the export's input format."""
        outputs = self.session.run(None, {INPUT_NAME: np.ascontiguousarray(image_chw, dtype=np.float32)})
        return dict(zip(OUTPUT_NAMES, outputs))


class OpenVinoPanFPN:
    """The same exported ONNX file compiled by OpenVINO for the CPU; ``run`` as :class:`OnnxPanFPN`.

    ``precision`` fp32, bf16 (OpenVINO's ``INFERENCE_PRECISION_HINT``) or int8 (a quantized model
    file, its other layers in fp32). fp32 is set explicitly: OpenVINO's own default on CPUs with
    bf16 units is bf16.
    """

    backend = "openvino"
    INFERENCE_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}

    def __init__(self, model_dir: str, num_threads: Optional[int] = None, precision: str = "fp32"):
        openvino = import_backend("openvino", "openvino")
        if precision not in self.INFERENCE_PRECISIONS:
            raise ValueError(f"precision {precision!r}: expected one of {tuple(self.INFERENCE_PRECISIONS)}")
        self.metadata = load_metadata(model_dir)
        self.model_path = model_file(model_dir, self.metadata)
        self.precision = precision
        config = {"INFERENCE_PRECISION_HINT": self.INFERENCE_PRECISIONS[precision]}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        core = openvino.Core()
        try:
            compiled = core.compile_model(core.read_model(self.model_path), "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelFileError(f"{self.model_path}: not a loadable ONNX model ({e})") from e
        check_outputs(self.model_path, (output.get_names() for output in compiled.outputs))
        self.request = compiled.create_infer_request()

    def run(self, image_chw: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph's outputs for one resized (3, H, W) float32 image in the export's input format."""
        results = self.request.infer({INPUT_NAME: np.ascontiguousarray(image_chw, dtype=np.float32)})
        # Copies: the request's output tensors are reused by the next call.
        return {name: np.array(results[index]) for index, name in enumerate(OUTPUT_NAMES)}


BACKEND_CLASSES = {"onnxruntime": OnnxPanFPN, "openvino": OpenVinoPanFPN}


def open_model(
    model_dir: str, backend: str, precision: str, num_threads: Optional[int] = None, flags: Optional[AbstractSet[str]] = None
):
    """(model, precision, why): the export in ``model_dir`` run by ``backend`` in ``precision``
    (``auto``: chosen from the CPU's ``flags``, by default /proc/cpuinfo's), checked as
    :func:`panfpn_lite.runtime.precision.choose_precision` does."""
    if backend not in BACKEND_CLASSES:
        raise ValueError(f"backend {backend!r}: expected one of {tuple(BACKEND_CLASSES)}")
    path = model_file(model_dir, load_metadata(model_dir))
    chosen, why = choose_precision(backend, precision, cpu_flags() if flags is None else flags, is_quantized(path))
    return BACKEND_CLASSES[backend](model_dir, num_threads, chosen), chosen, why
