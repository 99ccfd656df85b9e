"""Instance ground truth from a COCO instances JSON (overlapping instances, Mask R-CNN's setting)
when the dataset is registered with one: training targets and AP both use it."""
import contextlib
import io
import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from panfpn_d2.data import PanFPNDatasetMapper, register_panoptic_dataset
from panfpn_d2.evaluation import PanFPNInstanceEvaluator
from panfpn_d2.evaluation.instance_evaluation import AP_METRICS
from panfpn_lite.semantic_layout import SemanticLabelLayout

from tests.support.paths import COCO_SAMPLE as SAMPLE_DIR, SAMPLE_JSON, SAMPLE_PNG_DIR
from tests.evaluation.test_instance_evaluator import _sample_detections, coco_results

WITH_JSON = "panfpn_test_coco_sample_with_instances_json"


def box_instances_json(dataset: dict) -> dict:
    """An instances JSON of the sample whose instances are their boxes (as polygons): they overlap
    one another, which no panoptic PNG can hold."""
    thing_ids = {c["id"] for c in dataset["categories"] if c["isthing"]}
    annotations = []
    for annotation in dataset["annotations"]:
        for s in annotation["segments_info"]:
            if s["category_id"] in thing_ids:
                x, y, w, h = s["bbox"]
                annotations.append({
                    "id": len(annotations) + 1, "image_id": annotation["image_id"], "category_id": s["category_id"],
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]], "area": float(w * h),
                    "bbox": [x, y, w, h], "iscrowd": int(s["iscrowd"]),
                })
    categories = [c for c in dataset["categories"] if c["isthing"]]
    return {"images": dataset["images"], "annotations": annotations, "categories": categories}


@pytest.fixture(scope="module")
def instances_json(tmp_path_factory, sample_gt):
    path = tmp_path_factory.mktemp("instances") / "instances_sample.json"
    path.write_text(json.dumps(box_instances_json(sample_gt[0])))
    if WITH_JSON not in DatasetCatalog:
        register_panoptic_dataset(WITH_JSON, str(SAMPLE_JSON), str(SAMPLE_DIR / "input_images"), str(SAMPLE_PNG_DIR),
                                  categories=sample_gt[0]["categories"], instances_json=str(path))
    return path


def evaluate(dataset_name, detections):
    evaluator = PanFPNInstanceEvaluator(dataset_name, distributed=False, backend="hotcoco")
    for image_id, instances in detections.items():
        evaluator.process([{"image_id": image_id}], [{"instances": instances}])
    return evaluator, evaluator.evaluate()


def pycocotools_on_json(path, detections, metadata, task):
    results = coco_results(detections, metadata, task)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(path))
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(results), task)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats[:6]


def test_ap_uses_the_instances_json_and_equals_pycocotools_on_it(instances_json, sample_gt, sample_metadata):
    detections = _sample_detections(sample_gt, sample_metadata)
    with_json, json_results = evaluate(WITH_JSON, detections)
    from_png, png_results = evaluate(sample_metadata.name, detections)
    assert with_json.ground_truth_source == f"instances JSON {instances_json}"
    assert from_png.ground_truth_source.startswith("panoptic PNGs")
    assert json_results["segm"]["AP"] != pytest.approx(png_results["segm"]["AP"], abs=0.5)
    for task in ("bbox", "segm"):
        stats = np.asarray(pycocotools_on_json(instances_json, detections, sample_metadata, task))
        expected = np.where(stats < 0, np.nan, 100 * stats)  # COCOeval's -1: NaN, as in detectron2
        np.testing.assert_allclose([json_results[task][m] for m in AP_METRICS], expected, atol=1e-9, equal_nan=True)


def test_training_targets_are_the_overlapping_json_instances(instances_json, sample_gt):
    record = next(r for r in DatasetCatalog.get(WITH_JSON) if r["image_id"] == 439180)
    layout = SemanticLabelLayout.from_metadata(MetadataCatalog.get(WITH_JSON), "other")
    mapper = PanFPNDatasetMapper(True, augmentations=[T.Resize((720, 1280))], image_format="BGR",
                                 semantic_layout=layout)
    out = mapper(record)
    instances = out["instances"]
    json_boxes = [a for a in json.loads(instances_json.read_text())["annotations"]
                  if a["image_id"] == 439180 and not a["iscrowd"]]
    assert len(instances) == len(json_boxes) > 1
    masks = instances.gt_masks.tensor
    assert (masks.sum(dim=0) > 1).any()  # instances overlap: not from the panoptic PNG
    # each mask is its box, scaled 2x
    expected = sorted(tuple(round(2 * v) for v in (x, y, x + w, y + h)) for x, y, w, h in (a["bbox"] for a in json_boxes))
    assert sorted(tuple(round(v) for v in b) for b in instances.gt_boxes.tensor.tolist()) == expected
