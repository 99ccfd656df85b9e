"""``export --quantize int8``: a statically quantized ONNX model, calibrated on images of the
data, with the decision layers in fp32. Its agreement with fp32 on both backends:
tests/export/test_precision_paths.py."""
import pytest

from panfpn_d2.deploy.quantize import calibration_images, initializers_unshared
from panfpn_d2.tools.export import export_model, main as export_main
from panfpn_lite.runtime.model import is_quantized, load_metadata

from tests.support.configs import TOY_CONFIG


def toy_split_folder(images, split):
    """The toy dataset's ``split`` folder of images (the trained toy's images are train, then val)."""
    return images[0].parents[2] / split / "images"  # <root>/<split>/images/*


@pytest.fixture(scope="module")
def toy_int8(trained_toy, tmp_path_factory):
    """The trained toy exported quantized, calibrated on the toy's 4 training images."""
    cfg, images = trained_toy
    output = tmp_path_factory.mktemp("toy_int8")
    export_model(cfg, "onnx", str(output), "int8", str(toy_split_folder(images, "train")), 4)
    return output


def test_quantized_export_is_recognised_and_keeps_the_decision_layers_in_fp32(toy_int8):
    metadata = load_metadata(str(toy_int8))
    assert is_quantized(str(toy_int8 / "model.onnx"))
    quantization = metadata["quantization"]
    assert quantization["precision"] == "int8" and quantization["calibration_images"] == 4
    import onnx

    graph = onnx.load(str(toy_int8 / "model.onnx")).graph
    dequantized = {name for node in graph.node if node.op_type == "DequantizeLinear" for name in node.output}
    fp32_weights, int8_weights, fp32_nodes = set(), set(), set()
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm"):
            (int8_weights if node.input[1] in dequantized else fp32_weights).add(node.input[1])
            if node.input[1] not in dequantized:
                fp32_nodes.add(node.name)
    # the RPN's predictors, the box classifier and regressor, the mask and the semantic predictors:
    # the only fp32 ones
    assert {name.partition(".")[2] for name in fp32_weights} == {
        "proposal_generator.rpn_head.objectness_logits.weight", "proposal_generator.rpn_head.anchor_deltas.weight",
        "roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.weight",
        "roi_heads.mask_head.predictor.weight", "sem_seg_head.predictor.weight",
    }
    assert set(quantization["fp32_nodes"]) == fp32_nodes  # the RPN's once per FPN level
    assert len(int8_weights) > 40


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--format", "torchscript", "--quantize", "int8", "--calibration-images", "{images}"], "needs --format onnx"),
        (["--format", "onnx", "--quantize", "int8"], "needs --calibration-images FOLDER"),
        (["--format", "onnx", "--quantize", "int8", "--calibration-images", "{empty}"], "no images"),
        (["--format", "onnx", "--quantize", "int8", "--calibration-images", "{missing}"], "no such folder"),
        (["--format", "onnx", "--calibration-images", "{images}"], "is for --quantize int8"),
    ],
)
def test_bad_quantize_arguments_are_named_and_nothing_written(trained_toy, tmp_path, arguments, message):
    _, images = trained_toy
    (tmp_path / "empty").mkdir()
    folders = {"images": toy_split_folder(images, "train"), "empty": tmp_path / "empty", "missing": tmp_path / "missing"}
    arguments = [a.format(**{k: str(v) for k, v in folders.items()}) for a in arguments]
    with pytest.raises(ValueError, match=message):
        export_main(["--config-file", str(TOY_CONFIG), "--output", str(tmp_path / "out"), *arguments,
                     "--opts", "MODEL.WEIGHTS", ""])
    assert not (tmp_path / "out").exists()


def test_calibration_takes_the_first_images_by_name(tmp_path):
    for name in ("c.png", "a.jpg", "b.JPEG", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.rsplit("/", 1)[1] for p in calibration_images(str(tmp_path), 2)] == ["a.jpg", "b.JPEG"]
    with pytest.raises(ValueError, match="at least 1"):
        calibration_images(str(tmp_path), 0)


def test_shared_initializers_become_each_nodes_own():
    """The exporter stores equal parameters once and reaches them through Identity nodes; the
    quantizer fuses a convolution's bias only if it is an initializer (else the convolution stays
    fp32 between Quantize/DequantizeLinear: an int8 R50 ran at fp32 speed)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "weight")
    bias = numpy_helper.from_array(np.zeros(2, np.float32), "first.bias")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["first.bias"], ["second.bias"]),
         helper.make_node("Conv", ["x", "weight", "first.bias"], ["y"]),
         helper.make_node("Conv", ["y", "weight", "second.bias"], ["z"])],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1, 2, 3, 3])], [weight, bias],
    )
    model = initializers_unshared(helper.make_model(graph))
    onnx.checker.check_model(model)
    assert [node.op_type for node in model.graph.node] == ["Conv", "Conv"]
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert set(initializers) == {"weight", "first.bias", "second.bias"}
    np.testing.assert_array_equal(initializers["second.bias"], np.zeros(2, np.float32))
