"""COCO panoptic files written from segment-id maps, and panopticapi's PQ as the reference."""
import contextlib
import io
import json
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np
import pytest

from panfpn_lite.panoptic_format import segment_areas, segment_box, write_panoptic_png

# Two things and two stuff classes: enough for every PQ rule, and panopticapi needs both kinds.
TOY_CATEGORIES = [
    {"id": 1, "name": "person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 2, "name": "car", "isthing": 1, "color": [0, 0, 142]},
    {"id": 7, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 9, "name": "grass", "isthing": 0, "color": [107, 142, 35]},
]

# (image id, segment-id map, segments_info with dataset category ids); ids may be strings (Cityscapes')
Image = Tuple[Union[int, str], np.ndarray, List[dict]]


def file_stem(image_id) -> str:
    """COCO's zero-padded name of an integer id; any other id as it is."""
    return f"{image_id:012d}" if isinstance(image_id, int) else str(image_id)


def write_panoptic_files(folder: Path, name: str, images: Sequence[Image], categories: List[dict]) -> Tuple[str, str]:
    """Write ``images`` as a COCO panoptic JSON ``folder/name.json`` + PNGs in ``folder/name/``.

    Segment areas and boxes are computed from the map, as COCO's are. Returns (json path, png folder).
    """
    png_folder = folder / name
    png_folder.mkdir(parents=True, exist_ok=True)
    image_records, annotations = [], []
    for image_id, id_map, segments_info in images:
        file_name = f"{file_stem(image_id)}.png"
        write_panoptic_png(id_map, str(png_folder / file_name))
        areas = segment_areas(id_map, [s["id"] for s in segments_info])
        segments = [dict(s, area=areas[s["id"]]) for s in segments_info]
        for segment in segments:
            segment.setdefault("iscrowd", 0)
            segment.setdefault("bbox", segment_box(id_map == segment["id"]))
        height, width = id_map.shape
        image_records.append({"id": image_id, "file_name": f"{file_stem(image_id)}.jpg", "height": height, "width": width})
        annotations.append({"image_id": image_id, "file_name": file_name, "segments_info": segments})
    json_path = folder / f"{name}.json"
    json_path.write_text(json.dumps({"images": image_records, "annotations": annotations, "categories": categories}))
    return str(json_path), str(png_folder)


def panopticapi_pq(gt_json: str, pred_json: str, gt_folder: str, pred_folder: str) -> dict:
    """The reference: panopticapi's pq_compute, quiet."""
    from panopticapi.evaluation import pq_compute

    with contextlib.redirect_stdout(io.StringIO()):
        return pq_compute(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder)


def assert_same_pq(actual: dict, expected: dict, tol: float = 1e-12):
    for group in ("All", "Things", "Stuff"):
        for key in ("pq", "sq", "rq", "n"):
            assert actual[group][key] == pytest.approx(expected[group][key], abs=tol), (group, key)
    assert set(map(int, actual["per_class"])) == set(map(int, expected["per_class"]))
    for category_id, values in expected["per_class"].items():
        got = actual["per_class"][int(category_id)]
        for key in ("pq", "sq", "rq"):
            assert got[key] == pytest.approx(values[key], abs=tol), (category_id, key)


# TOY_CATEGORIES and three more: bicycle (a thing only in the ground truth), road (stuff only
# predicted) and tree (stuff on neither side).
CATEGORIES_ON_ONE_SIDE = TOY_CATEGORIES + [
    {"id": 3, "name": "bicycle", "isthing": 1, "color": [119, 11, 32]},
    {"id": 8, "name": "road", "isthing": 0, "color": [128, 64, 128]},
    {"id": 5, "name": "tree", "isthing": 0, "color": [0, 80, 0]},
]


def categories_on_one_side() -> Tuple[Image, Image]:
    """(ground truth, prediction) of one 20×20 image in which categories appear on one side only.

    Both: sky (top half; the prediction's has a car in it), grass (bottom half; predicted over rows
    10..15 only) and a person. Ground truth only: a bicycle (predicted as road). Prediction only:
    the car (thing) and road (stuff, rows 16..19). Tree is on neither side.
    """
    gt_map = np.full((20, 20), 10, dtype=np.int64)
    gt_map[10:] = 11
    gt_map[10:14, 2:7] = 12
    gt_map[16:19, 12:16] = 13
    gt_categories = {10: 7, 11: 9, 12: 1, 13: 3}  # segment id -> category id
    pred_map = np.full((20, 20), 10, dtype=np.int64)
    pred_map[2:6, 12:16] = 14
    pred_map[10:] = 11
    pred_map[16:] = 15
    pred_map[10:14, 2:7] = 12
    pred_categories = {10: 7, 11: 9, 12: 1, 14: 2, 15: 8}

    def info(categories):
        return [{"id": i, "category_id": c} for i, c in categories.items()]

    return (1, gt_map, info(gt_categories)), (1, pred_map, info(pred_categories))
