"""PQ parity with panopticapi: the COCO sample with edited predictions, one hand-made case per
matching rule, and the command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from panfpn_lite.image_ids import integer_image_ids
from panfpn_lite import pq
from panfpn_lite.pq import pq_compute

from tests.support.panoptic_files import TOY_CATEGORIES, assert_same_pq, panopticapi_pq, write_panoptic_files
from tests.support.paths import SAMPLE_JSON, SAMPLE_PNG_DIR

PERSON, CAR, SKY, GRASS = 1, 2, 7, 9


def _prediction_segments(id_map, segments_info):
    """A prediction keeps the segments still present, without GT-only fields."""
    present = set(np.unique(id_map).tolist())
    return [{"id": s["id"], "category_id": s["category_id"]} for s in segments_info if s["id"] in present]


def drop_largest_thing(id_map, segments_info, categories):
    """Drop the largest non-crowd thing (a crowd region scores nothing either way)."""
    things = [s for s in segments_info if categories[s["category_id"]]["isthing"] and not s["iscrowd"]]
    thing = max(things, key=lambda s: s["area"])
    return np.where(id_map == thing["id"], 0, id_map), segments_info


def shift(id_map, segments_info, categories):
    return np.roll(id_map, (6, -11), axis=(0, 1)), segments_info


def relabel(id_map, segments_info, categories):
    """Give the first thing and the first stuff segment another category of their kind."""
    edited = [dict(s) for s in segments_info]
    for want_thing in (1, 0):
        segment = next(s for s in edited if categories[s["category_id"]]["isthing"] == want_thing)
        segment["category_id"] = next(
            c for c in categories if categories[c]["isthing"] == want_thing and c != segment["category_id"]
        )
    return id_map, edited


def merge_two(id_map, segments_info, categories):
    """Merge the two largest segments of the most frequent category into one segment."""
    counts = {}
    for s in segments_info:
        counts.setdefault(s["category_id"], []).append(s)
    group = max(counts.values(), key=len)
    first, second = sorted(group, key=lambda s: -s["area"])[:2]
    return np.where(id_map == second["id"], first["id"], id_map), segments_info


EDITS = {
    "identity": [],
    "drop": [drop_largest_thing],
    "shift": [shift],
    "relabel": [relabel],
    "merge": [merge_two],
    "all_four": [drop_largest_thing, relabel, merge_two, shift],
}


def edited_sample_files(sample_gt, tmp_path, edit: str):
    """The sample's ground truth edited by ``EDITS[edit]``, written as prediction files (json, folder)."""
    dataset, id_maps = sample_gt
    categories = {c["id"]: c for c in dataset["categories"]}
    predictions = []
    for annotation in dataset["annotations"]:
        id_map, segments_info = id_maps[annotation["image_id"]], annotation["segments_info"]
        for step in EDITS[edit]:
            id_map, segments_info = step(id_map, segments_info, categories)
        predictions.append((annotation["image_id"], id_map, _prediction_segments(id_map, segments_info)))
    return write_panoptic_files(tmp_path, "pred", predictions, dataset["categories"])


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_sample_parity_with_panopticapi(edit, sample_gt, tmp_path):
    pred_json, pred_folder = edited_sample_files(sample_gt, tmp_path, edit)
    expected = panopticapi_pq(str(SAMPLE_JSON), pred_json, str(SAMPLE_PNG_DIR), pred_folder)
    actual = pq_compute(str(SAMPLE_JSON), pred_json, str(SAMPLE_PNG_DIR), pred_folder)
    assert_same_pq(actual, expected)
    if edit == "identity":
        assert actual["All"]["pq"] == 1.0
    else:
        assert actual["All"]["pq"] < 1.0


def _box(height, width, y0, y1, x0, x1, value, base=None):
    id_map = np.zeros((height, width), dtype=np.int64) if base is None else base.copy()
    id_map[y0:y1, x0:x1] = value
    return id_map


def _toy_case(tmp_path, gt_images, pred_images):
    gt = write_panoptic_files(tmp_path, "gt", gt_images, TOY_CATEGORIES)
    pred = write_panoptic_files(tmp_path, "pred", pred_images, TOY_CATEGORIES)
    expected = panopticapi_pq(gt[0], pred[0], gt[1], pred[1])
    actual = pq_compute(gt[0], pred[0], gt[1], pred[1])
    assert_same_pq(actual, expected)
    return actual


def _background():
    """A 20×20 image: sky on the top half, grass below, a 4×5 person at rows 10..14, cols 2..6."""
    id_map = _box(20, 20, 0, 10, 0, 20, 10)
    id_map = _box(20, 20, 10, 20, 0, 20, 11, id_map)
    id_map = _box(20, 20, 10, 14, 2, 7, 12, id_map)
    info = [
        {"id": 10, "category_id": SKY},
        {"id": 11, "category_id": GRASS},
        {"id": 12, "category_id": PERSON},
    ]
    return id_map, info


def test_crowd_region_absorbs_unmatched_prediction(tmp_path):
    """A predicted car lying mostly on a car crowd region is neither TP nor FP; the crowd is no FN."""
    gt_map, gt_info = _background()
    gt_map = _box(20, 20, 2, 8, 10, 18, 13, gt_map)
    gt_info = gt_info + [{"id": 13, "category_id": CAR, "iscrowd": 1}]
    pred_map, pred_info = _background()
    pred_map = _box(20, 20, 3, 7, 11, 17, 13, pred_map)
    pred_info = pred_info + [{"id": 13, "category_id": CAR}]
    result = _toy_case(tmp_path, [(1, gt_map, gt_info)], [(1, pred_map, pred_info)])
    assert result["per_class"][CAR] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0}  # never scored
    assert result["Things"]["n"] == 1


def test_void_pixels_are_not_counted_against_a_prediction(tmp_path):
    """The predicted sky's 40 pixels on GT void leave the union: IoU = 160 / (200 + 160 - 160 - 40) = 1."""
    gt_map, gt_info = _background()
    gt_map[0:2, :] = 0  # two void rows at the top of the sky
    pred_map, pred_info = _background()
    result = _toy_case(tmp_path, [(1, gt_map, gt_info)], [(1, pred_map, pred_info)])
    assert result["per_class"][SKY]["sq"] == 1.0


def test_unmatched_segments_are_false_positive_and_false_negative(tmp_path):
    gt_map, gt_info = _background()
    pred_map, pred_info = _background()
    pred_map[10:14, 2:7] = 11  # the person is predicted as grass...
    pred_map = _box(20, 20, 2, 6, 12, 16, 14, pred_map)  # ...and a car appears in the sky
    pred_info = [s for s in pred_info if s["id"] != 12] + [{"id": 14, "category_id": CAR}]
    result = _toy_case(tmp_path, [(1, gt_map, gt_info)], [(1, pred_map, pred_info)])
    assert result["per_class"][PERSON]["rq"] == 0.0
    assert result["per_class"][CAR]["rq"] == 0.0


def test_category_mismatch_never_matches(tmp_path):
    gt_map, gt_info = _background()
    pred_map, pred_info = _background()
    pred_info = [dict(s, category_id=CAR) if s["id"] == 12 else s for s in pred_info]
    result = _toy_case(tmp_path, [(1, gt_map, gt_info)], [(1, pred_map, pred_info)])
    assert result["per_class"][PERSON]["pq"] == 0.0 and result["per_class"][CAR]["pq"] == 0.0


def test_iou_exactly_one_half_is_not_a_match(tmp_path):
    """Person GT 4×5 = 20 px; the prediction covers 10 of them and 0 else: IoU = 10/20 = 0.5."""
    gt_map, gt_info = _background()
    pred_map, pred_info = _background()
    pred_map[12:14, 2:7] = 11
    result = _toy_case(tmp_path, [(1, gt_map, gt_info)], [(1, pred_map, pred_info)])
    assert result["per_class"][PERSON]["rq"] == 0.0
    # One pixel more is a match.
    pred_map[12, 2] = 12
    result = _toy_case(tmp_path / "more", [(1, gt_map, gt_info)], [(1, pred_map, pred_info)])
    assert result["per_class"][PERSON]["rq"] == 1.0


def test_empty_prediction(tmp_path):
    gt_map, gt_info = _background()
    result = _toy_case(tmp_path, [(1, gt_map, gt_info)], [(1, np.zeros_like(gt_map), [])])
    assert result["All"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 3}


def test_empty_ground_truth_image(tmp_path):
    """An image with no GT segment is all void: predictions on it are ignored, not false positives."""
    gt_map, gt_info = _background()
    pred_map, pred_info = _background()
    images_gt = [(1, gt_map, gt_info), (2, np.zeros_like(gt_map), [])]
    images_pred = [(1, pred_map, pred_info), (2, pred_map, pred_info)]
    result = _toy_case(tmp_path, images_gt, images_pred)
    assert result["All"]["pq"] == 1.0


# The console script setup.py installs next to this interpreter.
PQ_COMMAND = os.path.join(os.path.dirname(sys.executable), "panfpn-pq")


def _without_torch_and_detectron2(folder, also=()) -> dict:
    """An environment in which importing torch, detectron2 or the packages ``also`` fails."""
    for package in ("torch", "detectron2", *also):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text(f"raise ImportError('{package} imported')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}


def test_command_line_prints_table_and_writes_json(sample_gt, tmp_path):
    """... without importing torch or detectron2, which would take most of its run time, nor numpy
    (hotcoco's package imports it: a third of the command's time on 400 images)."""
    dataset, id_maps = sample_gt
    categories = {c["id"]: c for c in dataset["categories"]}
    predictions = []
    for annotation in dataset["annotations"]:
        id_map, info = shift(id_maps[annotation["image_id"]], annotation["segments_info"], categories)
        predictions.append((annotation["image_id"], id_map, _prediction_segments(id_map, info)))
    pred_json, pred_folder = write_panoptic_files(tmp_path, "pred", predictions, dataset["categories"])
    output = tmp_path / "pq.json"
    completed = subprocess.run(
        [PQ_COMMAND, "--gt_json_file", str(SAMPLE_JSON),
         "--pred_json_file", pred_json, "--gt_folder", str(SAMPLE_PNG_DIR), "--pred_folder", pred_folder,
         "--output-json", str(output)],
        capture_output=True, text=True, env=_without_torch_and_detectron2(tmp_path / "poisoned", also=["numpy"]),
    )
    assert completed.returncode == 0, completed.stderr
    assert "          |    PQ     SQ     RQ     N" in completed.stdout
    assert "Things    |" in completed.stdout
    expected = panopticapi_pq(str(SAMPLE_JSON), pred_json, str(SAMPLE_PNG_DIR), pred_folder)
    written = json.loads(output.read_text())
    assert_same_pq({**written, "per_class": {int(k): v for k, v in written["per_class"].items()}}, expected)


@pytest.mark.parametrize(
    "program",
    [
        "from panfpn_lite.pq import panoptic_eval_class; PanopticEval = panoptic_eval_class(); import hotcoco.panoptic",
        "import hotcoco.panoptic; from panfpn_lite.pq import panoptic_eval_class; PanopticEval = panoptic_eval_class()",
    ],
    ids=["core-first", "package-first"],
)
def test_hotcoco_core_and_package_are_one_module(program):
    """hotcoco's core is initialised once whichever comes first: the command's loading of the core
    alone or an ``import hotcoco`` (a compiled module initialised twice would be two copies)."""
    check = "assert PanopticEval is hotcoco.panoptic.PanopticEval; assert hotcoco.COCO is not None"
    completed = subprocess.run([sys.executable, "-c", f"{program}; {check}"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_command_line_help_needs_neither_torch_nor_detectron2(tmp_path):
    env = _without_torch_and_detectron2(tmp_path / "poisoned")
    for command in ([PQ_COMMAND], [sys.executable, "-m", "panfpn_lite.pq"]):
        completed = subprocess.run([*command, "--help"], capture_output=True, text=True, env=env)
        assert completed.returncode == 0, completed.stderr
        assert "--gt_json_file" in completed.stdout


def test_panfpn_d2_commands_import_the_model(tmp_path):
    """Importing panfpn_d2 registers the model, torch and all (here: fails to, without torch)."""
    completed = subprocess.run(
        [sys.executable, "-m", "panfpn_d2.tools.demo", "--help"],
        capture_output=True, text=True, env=_without_torch_and_detectron2(tmp_path / "poisoned"),
    )
    assert completed.returncode != 0 and "torch imported" in completed.stderr


def test_missing_prediction_is_an_error(tmp_path):
    gt_map, gt_info = _background()
    gt = write_panoptic_files(tmp_path, "gt", [(1, gt_map, gt_info), (2, gt_map, gt_info)], TOY_CATEGORIES)
    pred = write_panoptic_files(tmp_path, "pred", [(1, gt_map, gt_info)], TOY_CATEGORIES)
    with pytest.raises(ValueError, match="2"):
        pq_compute(gt[0], pred[0], gt[1], pred[1])


def test_integer_image_ids_are_read_by_hotcoco_alone(sample_gt, tmp_path, monkeypatch):
    """The fast path: with hotcoco's integer ids the JSON files are never parsed in Python."""
    gt_images, pred_images, categories = _sample_with_ids(sample_gt, int)
    gt = write_panoptic_files(tmp_path, "gt", gt_images, categories)
    pred = write_panoptic_files(tmp_path, "pred", pred_images, categories)
    expected = panopticapi_pq(gt[0], pred[0], gt[1], pred[1])

    def no_python_parsing(path):
        raise AssertionError(f"{path} parsed in Python")

    monkeypatch.setattr(pq, "_read_json", no_python_parsing)
    assert_same_pq(pq_compute(gt[0], pred[0], gt[1], pred[1]), expected)


def test_a_file_that_is_not_json_is_named(tmp_path):
    gt_map, gt_info = _background()
    gt = write_panoptic_files(tmp_path, "gt", [(1, gt_map, gt_info)], TOY_CATEGORIES)
    broken = tmp_path / "broken.json"
    broken.write_text('{"annotations": [')
    with pytest.raises(ValueError, match="broken.json"):
        pq_compute(gt[0], str(broken), gt[1], gt[1])


def _sample_with_ids(sample_gt, image_id_of):
    """The sample's ground truth and its shifted prediction, image ids renamed by ``image_id_of``."""
    dataset, id_maps = sample_gt
    categories = {c["id"]: c for c in dataset["categories"]}
    gt_images, pred_images = [], []
    for annotation in dataset["annotations"]:
        image_id, gt_map = image_id_of(annotation["image_id"]), id_maps[annotation["image_id"]]
        gt_images.append((image_id, gt_map, annotation["segments_info"]))
        pred_map, info = shift(gt_map, annotation["segments_info"], categories)
        pred_images.append((image_id, pred_map, _prediction_segments(pred_map, info)))
    return gt_images, pred_images, dataset["categories"]


def test_string_image_ids_match_panopticapi(sample_gt, tmp_path):
    """COCO panoptic ids may be any JSON value (Cityscapes' are strings); panopticapi takes them."""
    results = {}
    for name, image_id_of in (("integer", int), ("string", lambda i: f"frankfurt_{i:06d}_000019")):
        gt_images, pred_images, categories = _sample_with_ids(sample_gt, image_id_of)
        gt = write_panoptic_files(tmp_path / name, "gt", gt_images, categories)
        pred = write_panoptic_files(tmp_path / name, "pred", pred_images, categories)
        results[name] = pq_compute(gt[0], pred[0], gt[1], pred[1])
        assert_same_pq(results[name], panopticapi_pq(gt[0], pred[0], gt[1], pred[1]))
    assert_same_pq(results["string"], results["integer"], tol=0)
    assert 0 < results["string"]["All"]["pq"] < 1


def test_command_line_takes_string_image_ids(tmp_path):
    gt_map, gt_info = _background()
    images = [("lindau_000002_000019", gt_map, gt_info), ("zurich_000001_000019", gt_map, gt_info)]
    gt = write_panoptic_files(tmp_path, "gt", images, TOY_CATEGORIES)
    pred = write_panoptic_files(tmp_path, "pred", images[::-1], TOY_CATEGORIES)  # another order
    output = tmp_path / "pq.json"
    subprocess.run(
        [sys.executable, "-m", "panfpn_lite.pq", "--gt_json_file", gt[0], "--pred_json_file", pred[0],
         "--gt_folder", gt[1], "--pred_folder", pred[1], "--output-json", str(output)],
        capture_output=True, text=True, check=True,
    )
    written = json.loads(output.read_text())
    assert written["All"] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 3}


def test_missing_prediction_of_a_string_id_names_it(tmp_path):
    gt_map, gt_info = _background()
    gt = write_panoptic_files(tmp_path, "gt", [("a_1", gt_map, gt_info), ("b_2", gt_map, gt_info)], TOY_CATEGORIES)
    pred = write_panoptic_files(tmp_path, "pred", [("a_1", gt_map, gt_info), ("c_3", gt_map, gt_info)], TOY_CATEGORIES)
    with pytest.raises(ValueError, match="no prediction for the image with id 'b_2'"):
        pq_compute(gt[0], pred[0], gt[1], pred[1])


@pytest.mark.parametrize(
    "image_ids, expected",
    [
        ([139, 5, 139, 0], {139: 139, 5: 5, 0: 0}),  # integers map to themselves
        (["zurich_1", "lindau_2"], {"zurich_1": 0, "lindau_2": 1}),  # others to positions, list order
        ([3, "3", -1], {3: 0, "3": 1, -1: 2}),
        ([True, 2], {True: 0, 2: 1}),
        ([], {}),
    ],
)
def test_integer_image_ids(image_ids, expected):
    mapping = integer_image_ids(image_ids)
    assert mapping == expected
    assert all(type(v) is int for v in mapping.values())
