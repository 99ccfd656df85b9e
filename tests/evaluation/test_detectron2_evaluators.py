"""TEST.EVALUATORS "detectron2": detectron2's stock evaluators on the toy val, against this project's."""
import json
import math

import numpy as np
import pytest
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator, COCOPanopticEvaluator, SemSegEvaluator
from PIL import Image

from panfpn_d2.config import validate_config
from panfpn_d2.data import register_panoptic_dataset
from panfpn_d2.engine import Trainer
from panfpn_d2.evaluation import build_panoptic_fpn_evaluators
from panfpn_d2.evaluation.detectron2_evaluators import detectron2_view_name
from tests.support.paths import COCO_SAMPLE as SAMPLE_DIR, SAMPLE_JSON

PANOPTIC_METRICS = [f"{m}{group}" for m in ("PQ", "SQ", "RQ") for group in ("", "_th", "_st")]
SEMANTIC_METRICS = ("mIoU", "fwIoU", "mACC", "pACC")
AP_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
# Both sets sum the same integer counts; they differ only in float rounding order.
TOLERANCE = 1e-6


def evaluate(cfg, evaluators, output_dir):
    cfg = cfg.clone()
    cfg.merge_from_list(["TEST.EVALUATORS", evaluators, "OUTPUT_DIR", str(output_dir)])
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return Trainer.test(cfg, model)


@pytest.fixture(scope="module")
def both_results(scoring_toy, tmp_path_factory):
    cfg = scoring_toy[0]
    root = tmp_path_factory.mktemp("evaluators")
    return evaluate(cfg, "panfpn", root / "panfpn"), evaluate(cfg, "detectron2", root / "detectron2"), root


def assert_close(ours, theirs, metrics, task):
    for metric in metrics:
        a, b = ours[task][metric], theirs[task][metric]
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOLERANCE, f"{task} {metric}: {a} vs {b}"


def test_panoptic_quality_agrees(both_results):
    ours, theirs, _ = both_results
    assert_close(ours, theirs, PANOPTIC_METRICS, "panoptic_seg")
    assert ours["panoptic_seg"]["PQ"] > 0


def test_semantic_metrics_agree(both_results):
    ours, theirs, _ = both_results
    assert_close(ours, theirs, SEMANTIC_METRICS[1:], "sem_seg")
    # mIoU: detectron2 v0.6 (and this project) average over the classes in the ground truth or the
    # prediction (a class only predicted scores 0); detectron2 from July 2022 on (main) over the
    # classes in the ground truth only. Both are derived here from this project's per-class numbers.
    classes = [k[len("IoU-"):] for k in ours["sem_seg"] if k.startswith("IoU-")]
    iou = np.array([ours["sem_seg"][f"IoU-{c}"] for c in classes])
    in_gt = ~np.isnan([ours["sem_seg"][f"ACC-{c}"] for c in classes])
    over_gt_or_prediction, over_gt = np.nanmean(iou), iou[in_gt].mean()
    assert abs(ours["sem_seg"]["mIoU"] - over_gt_or_prediction) <= TOLERANCE
    assert min(abs(theirs["sem_seg"]["mIoU"] - m) for m in (over_gt_or_prediction, over_gt)) <= TOLERANCE
    assert ours["sem_seg"]["mIoU"] > 0


def test_box_and_mask_ap_agree(both_results):
    ours, theirs, _ = both_results
    for task in ("bbox", "segm"):
        assert_close(ours, theirs, AP_METRICS, task)
    assert not math.isnan(ours["segm"]["AP"])


def test_ground_truth_files_are_made_from_the_panoptic_ones(scoring_toy, both_results):
    _, _, root = both_results
    dataset = scoring_toy[0].DATASETS.TEST[0]
    view = detectron2_view_name(dataset)
    record = DatasetCatalog.get(view)[0]
    semantic = np.asarray(Image.open(record["sem_seg_file_name"]))
    assert str(root / "detectron2" / "detectron2_evaluation" / dataset) in record["sem_seg_file_name"]
    # the "other" layout: the things are label 0, stuff 1..; unlabelled pixels are ignore_label
    labels = set(np.unique(semantic)) - {MetadataCatalog.get(view).ignore_label}
    assert 0 in labels and labels <= set(range(len(MetadataCatalog.get(view).stuff_classes)))
    things = [s for s in record["segments_info"] if s["isthing"]]
    assert len(record["annotations"]) == len(things) > 0


def test_unknown_evaluator_set_is_an_error_naming_the_key(trained_toy):
    cfg = trained_toy[0].clone()
    cfg.TEST.EVALUATORS = "pycocotools"
    with pytest.raises(ValueError, match="TEST.EVALUATORS"):
        validate_config(cfg)


def test_lazy_config_evaluators_build_detectron2s_with_a_cache_dir(trained_toy, tmp_path):
    """LazyConfig's evaluator (build_panoptic_fpn_evaluators) takes the same choice; the folder is its cache_dir."""
    dataset = trained_toy[0].DATASETS.TEST[0]
    options = dict(has_semantic=True, has_instances=True, thing_mode="other", evaluators="detectron2")
    with pytest.raises(ValueError, match="cache_dir"):
        build_panoptic_fpn_evaluators(dataset, **options)
    evaluators = build_panoptic_fpn_evaluators(dataset, cache_dir=str(tmp_path / "cache"), **options)
    assert [type(e) for e in evaluators._evaluators] == [SemSegEvaluator, COCOEvaluator, COCOPanopticEvaluator]
    json_file = tmp_path / "cache" / "instances.json"
    semantic_files = sorted((tmp_path / "cache" / "sem_seg_other").glob("*.png"))
    assert json_file.is_file() and semantic_files
    assert "annotations" in DatasetCatalog.get(detectron2_view_name(dataset))[0]
    # Built again: the files are fresh, reused as they are, and no annotation is made.
    written = {path: path.stat().st_mtime_ns for path in [json_file, *semantic_files]}
    build_panoptic_fpn_evaluators(dataset, cache_dir=str(tmp_path / "cache"), **options)
    assert {path: path.stat().st_mtime_ns for path in written} == written
    assert "annotations" not in DatasetCatalog.get(detectron2_view_name(dataset))[0]
    with pytest.raises(ValueError, match="TEST.EVALUATORS"):
        build_panoptic_fpn_evaluators(dataset, has_semantic=True, has_instances=True, evaluators="pycocotools")


def test_a_dataset_without_annotations_is_an_error_naming_the_alternative(tmp_path):
    register_panoptic_dataset(
        "panfpn_test_detectron2_evaluators_unannotated", str(SAMPLE_DIR / "images_info_examples.json"),
        str(SAMPLE_DIR / "input_images"), None, categories=json.loads(SAMPLE_JSON.read_text())["categories"],
        has_annotations=False,
    )
    with pytest.raises(ValueError, match="has no annotations.*'panfpn'"):
        build_panoptic_fpn_evaluators(
            "panfpn_test_detectron2_evaluators_unannotated", has_semantic=True, has_instances=True,
            evaluators="detectron2", cache_dir=str(tmp_path),
        )
