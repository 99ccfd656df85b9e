"""``panfpn-predict``: runs without torch or detectron2, writes the demo's COCO panoptic layout,
and on bad input names the file and writes nothing."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panfpn_lite.runtime.model import METADATA_FILE
from panfpn_lite.runtime.predict import main
from panfpn_lite.prediction_writer import PNG_SUBDIR, PREDICTIONS_JSON

PREDICT_COMMAND = Path(sys.executable).parent / "panfpn-predict"


def test_predict_runs_where_torch_and_detectron2_cannot_be_imported(trained_toy, toy_onnx, tmp_path, blocked_imports):
    _, images = trained_toy
    output = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=blocked_imports("torch", "torchvision", "detectron2", "panfpn_d2"))
    result = subprocess.run(
        [str(PREDICT_COMMAND), "--model", str(toy_onnx), "--input", *map(str, images[:2]), "--output", str(output),
         "--threads", "2"],
        env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr

    predictions = json.loads((output / PREDICTIONS_JSON).read_text())
    metadata = json.loads((toy_onnx / METADATA_FILE).read_text())
    assert predictions["categories"] == metadata["dataset"]["categories"]
    isthing = {c["id"]: bool(c["isthing"]) for c in predictions["categories"]}
    assert [a["image_id"] for a in predictions["annotations"]] == [p.stem for p in images[:2]]
    for annotation, image in zip(predictions["annotations"], predictions["images"]):
        rgb = np.asarray(Image.open(output / PNG_SUBDIR / annotation["file_name"])).astype(np.int64)
        id_map = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        assert id_map.shape == (image["height"], image["width"])
        assert set(np.unique(id_map)) - {0} == {s["id"] for s in annotation["segments_info"]}
        for segment in annotation["segments_info"]:
            assert segment["category_id"] in isthing
            assert segment["area"] == int((id_map == segment["id"]).sum())
            # the fields docs/deployment.md lists: isthing is the category's, not written per segment
            score = {"score"} if isthing[segment["category_id"]] else set()
            assert set(segment) == {"id", "category_id", "iscrowd", "area", "bbox"} | score


@pytest.fixture
def model_copy(toy_onnx, tmp_path):
    return Path(shutil.copytree(toy_onnx, tmp_path / "model"))


def break_model_file(model_dir: Path):
    path = model_dir / "model.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    return path


def remove_model_file(model_dir: Path):
    path = model_dir / "model.onnx"
    path.unlink()
    return path


def older_metadata(model_dir: Path):
    path = model_dir / METADATA_FILE
    metadata = json.loads(path.read_text())
    path.write_text(json.dumps(dict(metadata, format_version=0)))
    return path


def version_one_metadata(model_dir: Path):
    """An export of format_version 1, whose "merge" spelled the confidence threshold instances_score_thresh."""
    path = model_dir / METADATA_FILE
    metadata = json.loads(path.read_text())
    merge = dict(metadata["merge"])
    merge["instances_score_thresh"] = merge.pop("instances_confidence_thresh")
    path.write_text(json.dumps(dict(metadata, format_version=1, merge=merge)))
    return path


def wrong_merge_key(model_dir: Path):
    path = model_dir / METADATA_FILE
    metadata = json.loads(path.read_text())
    merge = dict(metadata["merge"])
    del merge["overlap_thresh"]
    path.write_text(json.dumps(dict(metadata, merge=merge)))
    return path


def remove_metadata(model_dir: Path):
    path = model_dir / METADATA_FILE
    path.unlink()
    return path


@pytest.mark.parametrize(
    "damage, message",
    [
        (remove_model_file, "no such file"),
        (break_model_file, "not a loadable ONNX model"),
        (older_metadata, "format_version 0"),
        (version_one_metadata, "format_version 1, but this runtime reads format_version 2; export the model again"),
        (wrong_merge_key, "\"merge\" lacks ['overlap_thresh']"),
        (remove_metadata, "no such file"),
    ],
)
def test_bad_model_folder_is_named_and_nothing_written(trained_toy, model_copy, tmp_path, capsys, damage, message):
    _, images = trained_toy
    path = damage(model_copy)
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(model_copy), "--input", str(images[0]), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert str(path) in error and message in error
    assert not (tmp_path / "out").exists()


def predicted_files(output: Path):
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()}


def test_unreadable_image_is_named_skipped_and_the_others_written(trained_toy, toy_onnx, tmp_path, capsys):
    _, images = trained_toy
    corrupted = tmp_path / "corrupted.png"
    corrupted.write_bytes(b"\x89PNG not really")
    output = tmp_path / "out"
    assert main(["--model", str(toy_onnx), "--input", str(images[0]), str(corrupted), str(images[1]),
                 "--output", str(output)]) == 1
    error = capsys.readouterr().err
    assert "panfpn-predict: 3/3 images, " in error and " images/s, 1 failed" in error  # the progress line
    failures = error[error.index("1 of 3 images failed:"):]
    assert str(corrupted) in failures and "not a readable image" in failures
    predictions = json.loads((output / PREDICTIONS_JSON).read_text())
    assert [image["file_name"] for image in predictions["images"]] == [images[0].name, images[1].name]
    assert sorted(os.listdir(output / PNG_SUBDIR)) == sorted(f"{p.stem}.png" for p in images[:2])


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_threaded_folder_run_writes_the_files_of_the_sequential_path(trained_toy, toy_onnx, tmp_path, backend):
    _, images = trained_toy
    folder = tmp_path / "images"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder)
    outputs = {}
    for decode_threads in ("0", "3"):
        outputs[decode_threads] = tmp_path / f"out_{decode_threads}"
        assert main(["--model", str(toy_onnx), "--input", str(folder), "--output", str(outputs[decode_threads]),
                     "--backend", backend, "--decode-threads", decode_threads]) == 0
    sequential, threaded = (predicted_files(outputs[d]) for d in ("0", "3"))
    assert len(sequential) == len(images) + 1
    assert sequential == threaded


def test_rerun_skips_written_images_unless_overwrite(trained_toy, toy_onnx, tmp_path, capsys):
    _, images = trained_toy
    output = tmp_path / "out"
    arguments = ["--model", str(toy_onnx), "--input", *map(str, images[:3]), "--output", str(output)]
    assert main(arguments[:-3] + arguments[-2:]) == 0  # images[0] and images[1] only
    first = predicted_files(output)
    (output / PNG_SUBDIR / f"{images[0].stem}.png").write_bytes(b"left alone by a re-run")
    capsys.readouterr()
    assert main(arguments) == 0
    assert "skipping 2 images already in" in capsys.readouterr().err
    png = output / PNG_SUBDIR
    assert (png / f"{images[0].stem}.png").read_bytes() == b"left alone by a re-run"
    predictions = json.loads((output / PREDICTIONS_JSON).read_text())
    assert [image["file_name"] for image in predictions["images"]] == [p.name for p in images[:3]]
    assert main(arguments + ["--overwrite"]) == 0
    assert (png / f"{images[0].stem}.png").read_bytes() == first[f"{PNG_SUBDIR}/{images[0].stem}.png"]


@pytest.mark.parametrize(
    "backend, precision, message",
    [
        ("openvino", "bf16", "--precision bf16 needs a CPU with AMX-BF16 (cpu flag amx_bf16) or AVX512-BF16"),
        ("onnxruntime", "bf16", "onnxruntime has no bf16 CPU path"),
        ("openvino", "int8", "the model file is not quantized; int8 needs a quantized export"),
    ],
)
def test_precision_the_cpu_cannot_run_stops_before_writing(
    trained_toy, toy_onnx, tmp_path, capsys, monkeypatch, backend, precision, message
):
    _, images = trained_toy
    monkeypatch.setattr("panfpn_lite.runtime.model.cpu_flags", lambda: frozenset({"avx", "avx2", "fma"}))
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(toy_onnx), "--input", str(images[0]), "--output", str(tmp_path / "out"),
              "--backend", backend, "--precision", precision])
    assert exit_info.value.code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_auto_precision_prints_its_choice(trained_toy, toy_onnx, tmp_path, capsys, monkeypatch):
    _, images = trained_toy
    monkeypatch.setattr("panfpn_lite.runtime.model.cpu_flags", lambda: frozenset({"avx", "avx2", "fma"}))
    assert main(["--model", str(toy_onnx), "--input", str(images[0]), "--output", str(tmp_path / "out"),
                 "--backend", "openvino", "--precision", "auto"]) == 0
    assert "openvino, fp32 (auto: the model is not quantized and this CPU has no bf16 units" in capsys.readouterr().err


def test_missing_backend_names_its_extra(trained_toy, toy_onnx, tmp_path, capsys, monkeypatch):
    _, images = trained_toy
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(toy_onnx), "--input", str(images[0]), "--output", str(tmp_path / "out"),
              "--backend", "openvino"])
    assert exit_info.value.code == 1
    assert "pip install 'panfpn_d2[openvino]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_video_is_predicted_frame_by_frame_as_its_frames_would_be_as_images(trained_toy, toy_onnx, tmp_path, capsys):
    import cv2

    from tests.support.video import write_video

    _, images = trained_toy
    video = write_video(tmp_path / "clip.avi", [cv2.imread(str(path)) for path in images])
    frames_folder = tmp_path / "frames"
    frames_folder.mkdir()
    capture = cv2.VideoCapture(str(video))
    for index in range(len(images)):
        ok, frame = capture.read()
        assert ok
        cv2.imwrite(str(frames_folder / f"clip_{index:06d}.png"), frame)  # lossless: the decoded frame
    assert main(["--model", str(toy_onnx), "--input", str(frames_folder), "--output", str(tmp_path / "as_images")]) == 0
    assert main(["--model", str(toy_onnx), "--input", str(video), "--output", str(tmp_path / "as_video")]) == 0
    as_images, as_video = (json.loads((tmp_path / out / PREDICTIONS_JSON).read_text()) for out in ("as_images", "as_video"))
    assert [image["file_name"] for image in as_video["images"]] == [f"clip.avi#{k:06d}" for k in range(len(images))]
    assert [image["id"] for image in as_video["images"]] == [image["id"] for image in as_images["images"]]
    assert as_video["annotations"] == as_images["annotations"]
    assert predicted_files(tmp_path / "as_video" / PNG_SUBDIR) == predicted_files(tmp_path / "as_images" / PNG_SUBDIR)
    # a re-run predicts only the frame whose PNG is gone
    (tmp_path / "as_video" / PNG_SUBDIR / "clip_000002.png").unlink()
    capsys.readouterr()
    assert main(["--model", str(toy_onnx), "--input", str(video), "--output", str(tmp_path / "as_video")]) == 0
    error = capsys.readouterr().err
    assert f"skipping {len(images) - 1} images already in" in error and "1/1 images" in error
    assert predicted_files(tmp_path / "as_video" / PNG_SUBDIR) == predicted_files(tmp_path / "as_images" / PNG_SUBDIR)
