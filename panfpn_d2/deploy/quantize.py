"""Static int8 quantization of an exported ONNX model, calibrated on images of the user's data.

ONNX Runtime's quantizer (``onnxruntime.quantization.quantize_static``) in QDQ format: each
quantized convolution's input and weight pass through QuantizeLinear/DequantizeLinear pairs, which
ONNX Runtime fuses into int8 kernels (VNNI/AMX) and OpenVINO reads as its own int8 layers, so
one file serves both backends. Weights are per output channel (symmetric int8), activations per
tensor (uint8, ranges from the calibration images' min/max).

Only convolutions and fully connected layers (Conv, Gemm) are quantized: they are the FLOPs.
Element-wise ops, resizes, RoiAlign and the in-graph box and mask arithmetic (its MatMuls
multiply two activations: quantizing them turned the toy's detections to noise, 21 % of pixels
the same category as fp32) stay fp32. The layers that produce the model's
decisions stay fp32 too (:data:`FP32_MODULES`): the box classifier and regressor, the mask
predictor and the semantic predictor. Their outputs are compared across categories (argmax,
score thresholds, the 0.5 mask threshold), where one int8 step of a logit moves a pixel's or an
instance's category; they are a few per cent of the FLOPs.
"""
import os
from typing import Iterator, List, Sequence

import numpy as np

from panfpn_lite.runtime.model import INPUT_NAME
from panfpn_lite.runtime.preprocess import ImageReadError, read_image, resize_for_model

# The modules kept in fp32 (see the module docstring), by their parameters' names: the ONNX graph
# names its weights "model.<module path>.weight" (PanFPNExportGraph.model), while its node names
# drop parts of the module path.
FP32_MODULES = (
    "proposal_generator.rpn_head.objectness_logits.",
    "proposal_generator.rpn_head.anchor_deltas.",
    "roi_heads.box_predictor.",
    "roi_heads.mask_head.predictor.",
    "sem_seg_head.predictor.",
)
QUANTIZED_OP_TYPES = ("Conv", "Gemm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_CALIBRATION_COUNT = 32


def calibration_images(folder: str, count: int) -> List[str]:
    """The first ``count`` images (by name) of ``folder``; an error naming the folder if it has none."""
    if count < 1:
        raise ValueError(f"--calibration-count must be at least 1, got {count}")
    if not os.path.isdir(folder):
        raise ValueError(f"--calibration-images {folder}: no such folder")
    paths = sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not paths:
        raise ValueError(f"--calibration-images {folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    return paths[:count]


def calibration_inputs(paths: Sequence[str], metadata: dict) -> Iterator[np.ndarray]:
    """Each image as the graph's input, read and resized by the runtime's own preprocessing."""
    input_meta = metadata["input"]
    for path in paths:
        try:
            image = read_image(path, input_meta["format"])
        except ImageReadError as e:
            raise ValueError(f"--calibration-images: {e}") from None
        yield resize_for_model(image, input_meta["min_size_test"], input_meta["max_size_test"])


def is_fp32_parameter(name: str) -> bool:
    """Whether the graph's initializer ``name`` ("model.<module path>.<parameter>") is a parameter
    of :data:`FP32_MODULES`."""
    return name.partition(".")[2].startswith(FP32_MODULES)


def fp32_nodes(graph) -> List[str]:
    """The names of the nodes of :data:`FP32_MODULES` (those taking one of their parameters) in
    an ONNX graph."""
    return [node.name for node in graph.node if any(is_fp32_parameter(name) for name in node.input)]


def initializers_unshared(model):
    """``model`` (an ``onnx.ModelProto``, changed in place) with each ``Identity`` of an initializer
    replaced by a copy of that initializer under the Identity's output name. The exporter stores
    equal parameters once (e.g. the zero biases of several convolutions) and reaches the others
    through an Identity; the quantizer needs each convolution's bias as an initializer of its own
    to fuse it into the int8 convolution (otherwise it warns "Expected bias ... to be an
    initializer" and the convolution runs as fp32 between Quantize/DequantizeLinear pairs)."""
    import onnx

    graph = model.graph
    initializers = {initializer.name: initializer for initializer in graph.initializer}
    identities = [node for node in graph.node if node.op_type == "Identity" and node.input[0] in initializers]
    for node in identities:
        copy = onnx.TensorProto()
        copy.CopyFrom(initializers[node.input[0]])
        copy.name = node.output[0]
        graph.initializer.append(copy)
        graph.node.remove(node)
    return model


def quantize_int8(fp32_path: str, int8_path: str, image_paths: Sequence[str], metadata: dict) -> List[str]:
    """Write the int8 (QDQ) quantization of the model at ``fp32_path`` to ``int8_path``,
    calibrated on ``image_paths``; return the names of the nodes kept in fp32."""
    try:
        from onnxruntime import quantization
    except ImportError as e:
        raise ImportError(f"--quantize int8 needs onnxruntime ({e}); pip install 'panfpn_d2[quantize]'") from e

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.inputs = calibration_inputs(image_paths, metadata)

        def get_next(self):
            image = next(self.inputs, None)
            return None if image is None else {INPUT_NAME: image}

    import onnx

    model = initializers_unshared(onnx.load(fp32_path))
    excluded = fp32_nodes(model.graph)
    quantization.quantize_static(
        model,
        int8_path,
        Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        op_types_to_quantize=list(QUANTIZED_OP_TYPES),
        nodes_to_exclude=excluded,
        per_channel=True,
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8,
        calibrate_method=quantization.CalibrationMethod.MinMax,
    )
    return excluded
