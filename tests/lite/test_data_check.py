"""panfpn-data check: every problem of a COCO panoptic dataset, named by file and id; statistics; config keys."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panfpn_lite.data_tools.categories import config_keys
from panfpn_lite.data_tools.check import check_dataset, write_overlays
from panfpn_lite.data_tools.cli import main
from panfpn_lite.data_tools.segments import segment_geometry
from panfpn_lite.panoptic_format import read_panoptic_png, segment_areas, segment_box, write_panoptic_png
from tests.support.panoptic_datasets import write_panoptic_dataset
from tests.support.panoptic_files import TOY_CATEGORIES


@pytest.fixture
def dataset(tmp_path):
    return write_panoptic_dataset(tmp_path, count=4)


def edit_json(dataset, edit):
    content = json.loads(Path(dataset["json"]).read_text())
    edit(content)
    Path(dataset["json"]).write_text(json.dumps(content))


def errors_of(dataset, workers=1):
    return check_dataset(dataset["json"], dataset["png_dir"], dataset["images"], workers).errors


def png_path(dataset, image_id=1):
    return os.path.join(dataset["png_dir"], f"{image_id:012d}.png")


def test_segment_geometry_is_segment_box_and_area_of_every_id():
    id_map = np.random.default_rng(0).integers(0, 6, (23, 31))
    geometry = segment_geometry(id_map)
    assert sorted(geometry) == sorted(np.unique(id_map).tolist())
    areas = segment_areas(id_map, geometry)
    for segment_id, (area, bbox) in geometry.items():
        assert area == areas[segment_id]
        assert bbox == segment_box(id_map == segment_id)


def test_a_valid_dataset_has_no_errors_and_its_statistics(dataset, capsys):
    result = check_dataset(dataset["json"], dataset["png_dir"], dataset["images"], workers=2)
    assert result.errors == []
    person, car, sky, grass = (result.stats[i] for i in (1, 2, 7, 9))
    assert (person.segments, person.crowd, len(person.images)) == (8, 0, 4)
    assert (car.segments, car.crowd) == (8, 4)  # one instance and one crowd per image
    assert sky.pixels + grass.pixels + person.pixels + car.pixels + result.void_pixels == result.pixels == 4 * 40 * 60
    with pytest.raises(SystemExit) as exit_status:
        main(["check", "--json", dataset["json"], "--png-dir", dataset["png_dir"], "--images", dataset["images"]])
    assert exit_status.value.code == 0
    out = capsys.readouterr().out
    assert "0 error(s)" in out
    assert "car     thing         8      4       4" in out


def test_config_keys_are_the_semantic_layouts_counts():
    assert config_keys(TOY_CATEGORIES) == {
        "other": {"MODEL.ROI_HEADS.NUM_CLASSES": 2, "MODEL.SEM_SEG_HEAD.NUM_CLASSES": 3},
        "all": {"MODEL.ROI_HEADS.NUM_CLASSES": 2, "MODEL.SEM_SEG_HEAD.NUM_CLASSES": 4},
    }


def test_png_ids_missing_from_json_and_json_segments_missing_from_png(dataset):
    def edit(content):
        segments = content["annotations"][0]["segments_info"]
        segments.remove(next(s for s in segments if s["id"] == 70))  # sky, in the PNG
        segments.append({"id": 555, "category_id": 9, "iscrowd": 0})  # in no PNG
    edit_json(dataset, edit)
    errors = errors_of(dataset)
    sky_area = int(np.count_nonzero(read_panoptic_png(png_path(dataset)) == 70))
    assert f"{png_path(dataset)}: PNG segment id 70 ({sky_area} pixels) is not in the JSON's segments_info" in errors
    assert f"{png_path(dataset)}: segment 555 (category 9) of the JSON's segments_info is not in the PNG" in errors
    assert len(errors) == 2


def test_unknown_and_duplicate_category_ids_and_missing_isthing(dataset):
    def edit(content):
        content["categories"].append(dict(content["categories"][0]))
        del content["categories"][1]["isthing"]
        content["annotations"][1]["segments_info"][0]["category_id"] = 42
    edit_json(dataset, edit)
    errors = errors_of(dataset)
    assert f"{dataset['json']}: category id 1 appears more than once" in errors
    assert f"{dataset['json']}: category #1 (id 2, name 'car') has no 'isthing'" in errors
    assert any(e.startswith(f"{dataset['json']}: 000000000002.png: segment ") and "category_id 42, not in 'categories'" in e
               for e in errors)


def test_bbox_and_area_that_disagree_with_the_png(dataset):
    def edit(content):
        segment = content["annotations"][2]["segments_info"][1]
        segment["area"] += 3
        segment["bbox"][2] -= 1
    edit_json(dataset, edit)
    errors = errors_of(dataset)
    assert len(errors) == 2
    assert errors[0].startswith(f"{png_path(dataset, 3)}: segment ") and " has area " in errors[0]
    assert errors[1].startswith(f"{png_path(dataset, 3)}: segment ") and " has bbox " in errors[1]


def test_png_and_image_sizes_that_differ(dataset):
    Image.new("RGB", (30, 40)).save(os.path.join(dataset["images"], "000000000002.jpg"))
    write_panoptic_png(np.zeros((10, 10), dtype=np.int64), png_path(dataset, 3))
    errors = errors_of(dataset)
    image = os.path.join(dataset["images"], "000000000002.jpg")
    assert f"{image}: image is 30x40 but its PNG {png_path(dataset, 2)} is 60x40" in errors
    assert f"{png_path(dataset, 3)}: PNG is 10x10 but the JSON gives its image 60x40" in errors


def test_duplicate_file_names_and_images_without_annotation_and_annotations_without_image(dataset):
    def edit(content):
        content["images"][1]["file_name"] = content["images"][0]["file_name"]
        content["annotations"][3]["file_name"] = content["annotations"][2]["file_name"]
        content["annotations"][0]["image_id"] = 99
    edit_json(dataset, edit)
    errors = errors_of(dataset)
    json_file = dataset["json"]
    assert f"{json_file}: image file name 000000000001.jpg is used by image ids 1 and 2" in errors
    assert f"{json_file}: PNG file name 000000000003.png is used by image ids 3 and 4" in errors
    assert f"{json_file}: annotation 000000000001.png refers to image id 99, which is not in 'images'" in errors
    assert f"{json_file}: image 000000000001.jpg (id 1) has no annotation" in errors
    assert f"{json_file}: image 000000000001.jpg (id 4) has no annotation" not in errors
    assert f"{json_file}: image 000000000004.jpg (id 4) has no annotation" in errors


def test_unreadable_and_missing_files_are_each_reported(dataset):
    Path(png_path(dataset, 1)).write_bytes(b"not a png")
    os.remove(png_path(dataset, 2))
    image = os.path.join(dataset["images"], "000000000003.jpg")
    Path(image).write_bytes(Path(image).read_bytes()[:200])  # truncated
    os.remove(os.path.join(dataset["images"], "000000000004.jpg"))
    errors = errors_of(dataset, workers=2)
    assert any(e.startswith(f"panoptic PNG {png_path(dataset, 1)} cannot be read") for e in errors)
    assert f"panoptic PNG {png_path(dataset, 2)} does not exist" in errors
    assert any(e.startswith(f"image {image} cannot be read") for e in errors)
    assert f"image {os.path.join(dataset['images'], '000000000004.jpg')} does not exist" in errors


def test_an_unreadable_json_is_an_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    errors = check_dataset(str(bad), str(tmp_path), str(tmp_path)).errors
    assert len(errors) == 1 and errors[0].startswith(f"{bad}: cannot be read")
    bad.write_text(json.dumps({"images": []}))
    assert check_dataset(str(bad), str(tmp_path), str(tmp_path)).errors == [
        f"{bad}: has no list ['annotations', 'categories'] (not in COCO panoptic format)"]


def test_every_problem_is_printed_and_the_exit_status_is_nonzero(dataset, capsys):
    edit_json(dataset, lambda content: content["annotations"][0]["segments_info"].pop())
    os.remove(os.path.join(dataset["images"], "000000000004.jpg"))
    with pytest.raises(SystemExit) as exit_status:
        main(["check", "--json", dataset["json"], "--png-dir", dataset["png_dir"], "--images", dataset["images"]])
    assert exit_status.value.code == 1
    out = capsys.readouterr().out
    assert out.count("ERROR ") == 2 and "2 error(s)" in out
    assert "000000000004.jpg does not exist" in out and "is not in the JSON's segments_info" in out


def test_overlays_show_each_segment_over_its_image(dataset, tmp_path):
    result = check_dataset(dataset["json"], dataset["png_dir"], dataset["images"], workers=1)
    written = write_overlays(result, str(tmp_path / "overlays"), 2)
    assert [os.path.basename(f) for f in written] == ["000000000001.png", "000000000002.png"]
    overlay = np.asarray(Image.open(written[0]))
    image = np.asarray(Image.open(os.path.join(dataset["images"], "000000000001.jpg")).convert("RGB"))
    id_map = read_panoptic_png(png_path(dataset, 1))
    assert overlay.shape == image.shape
    assert np.array_equal(overlay[0, 0], image[0, 0])  # void stays as it is
    assert not np.array_equal(overlay[10, 15], image[10, 15])  # a person, blended
    assert id_map[10, 15] == 11


def test_the_command_runs_without_torch_and_detectron2(dataset, tmp_path):
    overlays = tmp_path / "overlays"
    program = (
        "import sys; sys.modules.update(torch=None, detectron2=None); "
        "from panfpn_lite.data_tools.cli import main; main(sys.argv[1:])"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program, "check", "--json", dataset["json"], "--png-dir", dataset["png_dir"],
         "--images", dataset["images"], "--overlays", str(overlays), "--num", "3"],
        capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert completed.returncode == 0, completed.stderr
    assert "MODEL.PANFPN.SEM_SEG_THING_MODE all: MODEL.ROI_HEADS.NUM_CLASSES 2 MODEL.SEM_SEG_HEAD.NUM_CLASSES 4" in completed.stdout
    assert len(list(overlays.iterdir())) == 3
