"""PanFPNPanopticEvaluator end to end: model-format outputs in, detectron2-format PQ out, equal to
panopticapi on the same predictions written as PNG files."""
import json
import os

import numpy as np
import pytest
import torch

from tests.support.panoptic_files import panopticapi_pq, write_panoptic_files
from tests.support.paths import SAMPLE_JSON, SAMPLE_PNG_DIR
from panfpn_d2.evaluation import PanFPNPanopticEvaluator
from panfpn_lite.prediction_writer import PNG_SUBDIR, PREDICTIONS_JSON
from panfpn_lite.panoptic_format import read_panoptic_png


def edited_predictions(sample_gt, metadata):
    """Per image: (dataset-id prediction for panopticapi, model output dict).

    The edit: segment ids renumbered 1000 + 37·i (ids are arbitrary), the first thing dropped to void, the
    first stuff segment relabelled, the map shifted by 5 columns; a 3-pixel-wide void stripe.
    """
    dataset, id_maps = sample_gt
    categories = {c["id"]: c for c in dataset["categories"]}
    stuff_ids = sorted(metadata.stuff_dataset_id_to_contiguous_id)
    examples = []
    for annotation in dataset["annotations"]:
        new_ids = {s["id"]: 1000 + 37 * i for i, s in enumerate(annotation["segments_info"])}
        gt_map = id_maps[annotation["image_id"]]
        id_map = np.zeros_like(gt_map)
        for old, new in new_ids.items():
            id_map[gt_map == old] = new
        id_map = np.roll(id_map, 5, axis=1)
        id_map[:, 40:43] = 0
        segments = [dict(s, id=new_ids[s["id"]]) for s in annotation["segments_info"]]
        dropped = next(s for s in segments if categories[s["category_id"]]["isthing"])
        id_map[id_map == dropped["id"]] = 0
        segments.remove(dropped)
        relabelled = next(s for s in segments if not categories[s["category_id"]]["isthing"])
        relabelled["category_id"] = next(c for c in stuff_ids if c != relabelled["category_id"])
        segments = [s for s in segments if (id_map == s["id"]).any()]

        model_segments = []
        for s in segments:
            isthing = bool(categories[s["category_id"]]["isthing"])
            table = metadata.thing_dataset_id_to_contiguous_id if isthing else metadata.stuff_dataset_id_to_contiguous_id
            extra = {"score": 0.9} if isthing else {"area": int((id_map == s["id"]).sum())}
            model_segments.append({"id": s["id"], "isthing": isthing, "category_id": table[s["category_id"]], **extra})
        model_input = {"image_id": annotation["image_id"], "file_name": f"/images/{annotation['image_id']:012d}.jpg"}
        output = {"panoptic_seg": (torch.from_numpy(id_map.astype(np.int32)), model_segments)}
        prediction = (annotation["image_id"], id_map, [{"id": s["id"], "category_id": s["category_id"]} for s in segments])
        examples.append((prediction, model_input, output))
    return examples


def test_matches_panopticapi_and_writes_server_files(sample_gt, sample_metadata, tmp_path):
    examples = edited_predictions(sample_gt, sample_metadata)
    pred_json, pred_folder = write_panoptic_files(
        tmp_path, "reference", [e[0] for e in examples], sample_gt[0]["categories"]
    )
    expected = panopticapi_pq(str(SAMPLE_JSON), pred_json, str(SAMPLE_PNG_DIR), pred_folder)

    evaluator = PanFPNPanopticEvaluator(
        sample_metadata.name, output_dir=str(tmp_path / "out"), write_panoptic_png=True, distributed=False
    )
    evaluator.reset()
    for _, model_input, output in examples:  # one image per call, as a batch of 1
        evaluator.process([model_input], [output])
    results = evaluator.evaluate()["panoptic_seg"]

    for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        for metric in ("pq", "sq", "rq"):
            assert results[metric.upper() + suffix] == pytest.approx(100 * expected[group][metric], abs=1e-9)
    names = {c["id"]: c["name"] for c in sample_gt[0]["categories"]}
    scored = {k for k, v in expected["per_class"].items() if v != {"pq": 0.0, "sq": 0.0, "rq": 0.0}}
    for category_id in scored:
        assert results[f"PQ-{names[category_id]}"] == pytest.approx(100 * expected["per_class"][category_id]["pq"])
    assert 0 < results["PQ"] < 100

    # The server files: panopticapi reads them and finds the same numbers; void stayed void.
    written = os.path.join(tmp_path, "out", PREDICTIONS_JSON)
    from_files = panopticapi_pq(str(SAMPLE_JSON), written, str(SAMPLE_PNG_DIR), os.path.join(tmp_path, "out", PNG_SUBDIR))
    assert from_files["All"]["pq"] == pytest.approx(expected["All"]["pq"], abs=1e-12)
    for (image_id, id_map, _), _, _ in examples:
        png = read_panoptic_png(os.path.join(tmp_path, "out", PNG_SUBDIR, f"{image_id:012d}.png"))
        np.testing.assert_array_equal(png == 0, id_map == 0)
        assert png.max() == len(np.unique(id_map)) - 1  # ids renumbered 1..K
    assert {a["image_id"] for a in json.load(open(written))["annotations"]} == {e[0][0] for e in examples}


def test_evaluates_the_processed_images_only(sample_gt, sample_metadata):
    """One of the two images processed: the result is that image's PQ (identity -> 100)."""
    dataset, id_maps = sample_gt
    annotation = dataset["annotations"][0]
    categories = {c["id"]: c for c in dataset["categories"]}
    segments = []
    for s in annotation["segments_info"]:
        isthing = bool(categories[s["category_id"]]["isthing"])
        table = sample_metadata.thing_dataset_id_to_contiguous_id if isthing else sample_metadata.stuff_dataset_id_to_contiguous_id
        segments.append({"id": s["id"], "isthing": isthing, "category_id": table[s["category_id"]]})
    evaluator = PanFPNPanopticEvaluator(sample_metadata.name, distributed=False)
    evaluator.reset()
    id_map = torch.from_numpy(id_maps[annotation["image_id"]].astype(np.int32))
    evaluator.process([{"image_id": annotation["image_id"], "file_name": "x.jpg"}], [{"panoptic_seg": (id_map, segments)}])
    results = evaluator.evaluate()["panoptic_seg"]
    assert results["PQ"] == pytest.approx(100.0)


def test_unlisted_segment_id_is_an_error(sample_metadata):
    evaluator = PanFPNPanopticEvaluator(sample_metadata.name, distributed=False)
    evaluator.reset()
    id_map = torch.zeros((4, 4), dtype=torch.int32)
    id_map[0, 0] = 5
    with pytest.raises(ValueError, match=r"image_id 3: .*segment id\(s\) \[5\]"):
        evaluator.process([{"image_id": 3, "file_name": "x.jpg"}], [{"panoptic_seg": (id_map, [])}])


def test_unknown_category_is_an_error(sample_metadata):
    evaluator = PanFPNPanopticEvaluator(sample_metadata.name, distributed=False)
    evaluator.reset()
    id_map = torch.ones((4, 4), dtype=torch.int32)
    segments = [{"id": 1, "isthing": False, "category_id": 999}]
    with pytest.raises(KeyError, match="stuff contiguous category_id 999"):
        evaluator.process([{"image_id": 3, "file_name": "x.jpg"}], [{"panoptic_seg": (id_map, segments)}])
