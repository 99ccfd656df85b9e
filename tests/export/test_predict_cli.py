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


def test_unreadable_image_is_named_and_nothing_written(trained_toy, toy_onnx, tmp_path, capsys):
    _, images = trained_toy
    corrupted = tmp_path / "corrupted.png"
    corrupted.write_bytes(b"\x89PNG not really")
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(SystemExit):
        main(["--model", str(toy_onnx), "--input", str(images[0]), str(corrupted), "--output", str(output)])
    error = capsys.readouterr().err
    assert str(corrupted) in error and "not a readable image" in error
    assert os.listdir(output) == []
