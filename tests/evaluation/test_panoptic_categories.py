"""The evaluator's per-category keys (``PQ-<name>``, ``SQ-``, ``RQ-``) are exactly the categories
with a segment on either side: a category only predicted is reported (PQ 0) and counts in the mean."""
import numpy as np
import pytest
import torch

from panfpn_d2.data import register_panoptic_dataset
from panfpn_d2.evaluation import PanFPNPanopticEvaluator
from tests.support.panoptic_files import (
    CATEGORIES_ON_ONE_SIDE,
    categories_on_one_side,
    panopticapi_pq,
    write_panoptic_files,
)

NAMES = {c["id"]: c["name"] for c in CATEGORIES_ON_ONE_SIDE}
THINGS_ON_EITHER_SIDE = {"person", "car", "bicycle"}
STUFF_ON_EITHER_SIDE = {"sky", "grass", "road"}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The ground truth registered as a dataset; the prediction as the model outputs it, and as files."""
    folder = tmp_path_factory.mktemp("categories_on_one_side")
    gt_image, pred_image = categories_on_one_side()
    gt_json, gt_folder = write_panoptic_files(folder, "gt", [gt_image], CATEGORIES_ON_ONE_SIDE)
    pred_json, pred_folder = write_panoptic_files(folder, "pred", [pred_image], CATEGORIES_ON_ONE_SIDE)
    metadata = register_panoptic_dataset(
        f"panfpn_test_categories_on_one_side_{folder.name}", gt_json, str(folder), gt_folder,
        categories=CATEGORIES_ON_ONE_SIDE,
    )
    image_id, id_map, segments_info = pred_image
    things = {c["id"] for c in CATEGORIES_ON_ONE_SIDE if c["isthing"]}
    segments = [
        {"id": s["id"], "isthing": True, "score": 0.9,
         "category_id": metadata.thing_dataset_id_to_contiguous_id[s["category_id"]]}
        if s["category_id"] in things
        else {"id": s["id"], "isthing": False,
              "category_id": metadata.stuff_dataset_id_to_contiguous_id[s["category_id"]]}
        for s in segments_info
    ]
    output = {"panoptic_seg": (torch.from_numpy(id_map.astype(np.int32)), segments)}
    reference = panopticapi_pq(gt_json, pred_json, gt_folder, pred_folder)
    return metadata, {"image_id": image_id, "file_name": "image.jpg"}, output, reference


def _evaluate(case, scope):
    metadata, model_input, output, _ = case
    evaluator = PanFPNPanopticEvaluator(metadata.name, distributed=False, scope=scope)
    evaluator.reset()
    evaluator.process([model_input], [output])
    return evaluator.evaluate()["panoptic_seg"]


@pytest.mark.parametrize(
    "scope, names",
    [
        ("all", THINGS_ON_EITHER_SIDE | STUFF_ON_EITHER_SIDE),
        ("things", THINGS_ON_EITHER_SIDE),
        ("stuff", STUFF_ON_EITHER_SIDE),
    ],
)
def test_per_category_keys_are_the_categories_on_either_side(case, scope, names):
    results = _evaluate(case, scope)
    for metric in ("PQ", "SQ", "RQ"):
        assert {k[len(metric) + 1:] for k in results if k.startswith(metric + "-")} == names, metric
    reference = case[3]
    for name in names:
        category_id = next(i for i, n in NAMES.items() if n == name)
        assert results[f"PQ-{name}"] == pytest.approx(100 * reference["per_class"][category_id]["pq"], abs=1e-9)
    assert all(results[f"PQ-{name}"] == 0.0 for name in names & {"car", "road", "bicycle"})
    group = {"all": "All", "things": "Things", "stuff": "Stuff"}[scope]
    assert results["PQ"] == pytest.approx(100 * reference[group]["pq"], abs=1e-9)
    assert results["PQ"] == pytest.approx(np.mean([results[f"PQ-{name}"] for name in names]), abs=1e-9)
