"""Semantic metrics: a hand-made confusion matrix, and the evaluator on the COCO sample."""
import math

import numpy as np
import pytest
import torch
from hotcoco import metrics as hotcoco_metrics

from panfpn_lite.semantic_layout import SemanticLabelLayout
from panfpn_d2.data.panoptic_targets import semantic_target_from_panoptic
from panfpn_d2.evaluation import PanFPNSemSegEvaluator, semantic_metrics


def test_metrics_of_a_hand_made_confusion():
    # rows: ground truth, columns: prediction. Class c is never in the ground truth but predicted
    # once; class d is absent from both sides.
    confusion = np.array([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    results = semantic_metrics(confusion, ["a", "b", "c", "d"])
    assert results["IoU-a"] == pytest.approx(100 * 5 / 8)
    assert results["IoU-b"] == pytest.approx(100 * 3 / 7)
    assert results["IoU-c"] == 0.0
    assert math.isnan(results["IoU-d"]) and math.isnan(results["ACC-c"])
    assert results["mIoU"] == pytest.approx(100 * (5 / 8 + 3 / 7 + 0) / 3)
    assert results["fwIoU"] == pytest.approx(100 * (6 / 12 * 5 / 8 + 6 / 12 * 3 / 7))
    assert results["mACC"] == pytest.approx(100 * (5 / 6 + 3 / 6) / 2)
    assert results["pACC"] == pytest.approx(100 * 8 / 12)
    # hotcoco (mmsegmentation's definitions) agrees on the mean IoU and the pixel accuracy.
    reference = hotcoco_metrics.mean_iou(confusion.astype(np.uint64))
    assert results["mIoU"] == pytest.approx(100 * reference["mIoU"])
    assert results["pACC"] == pytest.approx(100 * reference["aAcc"])


def _one_hot_logits(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    logits = torch.zeros((num_classes,) + labels.shape)
    logits.scatter_(0, torch.from_numpy(labels.astype(np.int64))[None], 1.0)
    return logits


@pytest.mark.parametrize("thing_mode", ["other", "all"])
def test_evaluator_on_the_sample(thing_mode, sample_gt, sample_metadata):
    dataset, id_maps = sample_gt
    names = SemanticLabelLayout.from_metadata(sample_metadata, thing_mode).class_names
    assert len(names) == (54 if thing_mode == "other" else 133)
    evaluator = PanFPNSemSegEvaluator(sample_metadata.name, thing_mode, distributed=False)
    evaluator.reset()
    expected = np.zeros((len(names), len(names)), dtype=np.int64)
    categories = {c["id"]: c for c in dataset["categories"]}
    for annotation in dataset["annotations"]:
        segments = []
        for s in annotation["segments_info"]:
            isthing = bool(categories[s["category_id"]]["isthing"])
            table = sample_metadata.thing_dataset_id_to_contiguous_id if isthing else sample_metadata.stuff_dataset_id_to_contiguous_id
            segments.append({"id": s["id"], "isthing": isthing, "category_id": table[s["category_id"]]})
        target = semantic_target_from_panoptic(id_maps[annotation["image_id"]], segments, SemanticLabelLayout.from_metadata(sample_metadata, thing_mode))
        prediction = np.where(target == 255, 0, target).astype(np.int64)
        prediction[100:200, 100:300] = 1  # a wrong block
        labelled = target != 255
        np.add.at(expected, (target[labelled].astype(np.int64), prediction[labelled]), 1)
        evaluator.process([{"image_id": annotation["image_id"]}], [{"sem_seg": _one_hot_logits(prediction, len(names))}])
    results = evaluator.evaluate()["sem_seg"]
    reference = semantic_metrics(expected, names)
    assert results == pytest.approx(reference, nan_ok=True)
    assert 0 < results["mIoU"] < 100 and results["pACC"] > 50


def test_wrong_number_of_classes_is_an_error(sample_gt, sample_metadata):
    evaluator = PanFPNSemSegEvaluator(sample_metadata.name, "other", distributed=False)
    evaluator.reset()
    image_id = sample_gt[0]["annotations"][0]["image_id"]
    with pytest.raises(ValueError, match="sem_seg has 133 classes"):
        evaluator.process([{"image_id": image_id}], [{"sem_seg": torch.zeros((133, 4, 4))}])
