"""PQ averages over every category with a segment on either side, as panopticapi does: a category
only predicted (all false positives) scores PQ 0 and counts in the mean and in n."""
import pytest

from panfpn_lite.pq import pq_compute

from tests.support.panoptic_files import (
    CATEGORIES_ON_ONE_SIDE,
    assert_same_pq,
    categories_on_one_side,
    panopticapi_pq,
    write_panoptic_files,
)

CAR, BICYCLE, ROAD, TREE = 2, 3, 8, 5
THINGS_ON_EITHER_SIDE = {1, CAR, BICYCLE}
STUFF_ON_EITHER_SIDE = {7, 9, ROAD}


def test_a_category_only_predicted_scores_zero_and_counts(tmp_path):
    gt_image, pred_image = categories_on_one_side()
    gt = write_panoptic_files(tmp_path, "gt", [gt_image], CATEGORIES_ON_ONE_SIDE)
    pred = write_panoptic_files(tmp_path, "pred", [pred_image], CATEGORIES_ON_ONE_SIDE)
    result = pq_compute(gt[0], pred[0], gt[1], pred[1])
    assert_same_pq(result, panopticapi_pq(gt[0], pred[0], gt[1], pred[1]))

    assert (result["Things"]["n"], result["Stuff"]["n"], result["All"]["n"]) == (3, 3, 6)
    for category_id in (CAR, ROAD, BICYCLE, TREE):
        scores = result["per_class"][category_id]
        assert {k: scores[k] for k in ("pq", "sq", "rq")} == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
        assert scores["tp"] == 0
    for group, members in (("Things", THINGS_ON_EITHER_SIDE), ("Stuff", STUFF_ON_EITHER_SIDE),
                           ("All", THINGS_ON_EITHER_SIDE | STUFF_ON_EITHER_SIDE)):
        mean = sum(result["per_class"][c]["pq"] for c in members) / len(members)
        assert result[group]["pq"] == pytest.approx(mean, abs=1e-12), group
    assert 0 < result["All"]["pq"] < 1
