"""Instance AP: ground truth built from the panoptic annotations, numbers equal to pycocotools'."""
import contextlib
import io

import numpy as np
import pycocotools.mask as pycocotools_mask
import pytest
import torch
from detectron2.structures import Boxes, Instances
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from panfpn_d2.evaluation import PanFPNInstanceEvaluator
from panfpn_d2.evaluation.instance_evaluation import AP_METRICS


def _sample_detections(sample_gt, metadata, seed=0):
    """Per image: detections made from the GT things (shifted, some relabelled, random scores)."""
    dataset, id_maps = sample_gt
    rng = np.random.default_rng(seed)
    things = metadata.thing_dataset_id_to_contiguous_id
    per_image = {}
    for annotation in dataset["annotations"]:
        id_map = id_maps[annotation["image_id"]]
        masks, classes = [], []
        for s in annotation["segments_info"]:
            if s["category_id"] not in things:
                continue
            mask = np.roll(id_map == s["id"], int(rng.integers(-6, 7)), axis=1)
            masks.append(mask)
            classes.append(things[s["category_id"]] if rng.random() < 0.8 else int(rng.integers(len(things))))
        masks = np.stack(masks)
        boxes = []
        for mask in masks:
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        instances = Instances(id_map.shape)
        instances.pred_masks = torch.from_numpy(masks)
        instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        instances.scores = torch.from_numpy(rng.random(len(masks)).astype(np.float32))
        instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
        per_image[annotation["image_id"]] = instances
    return per_image


def coco_results(detections, metadata, task):
    """pycocotools result dicts of ``detections`` ({image id: Instances}) for ``task``, built independently."""
    contiguous_to_dataset = {c: d for d, c in metadata.thing_dataset_id_to_contiguous_id.items()}
    results = []
    for image_id, instances in detections.items():
        for mask, box, score, cls in zip(instances.pred_masks.numpy(), instances.pred_boxes.tensor.numpy(),
                                         instances.scores.numpy(), instances.pred_classes.numpy()):
            result = {"image_id": image_id, "category_id": contiguous_to_dataset[int(cls)], "score": float(score)}
            if task == "segm":
                result["segmentation"] = pycocotools_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
            else:
                result["bbox"] = [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]
            results.append(result)
    return results


def _pycocotools_reference(sample_gt, metadata, detections, task):
    """pycocotools on a GT built independently: one binary mask per thing segment of the PNG."""
    dataset, id_maps = sample_gt
    things = metadata.thing_dataset_id_to_contiguous_id
    annotations = []
    for annotation in dataset["annotations"]:
        image_id = annotation["image_id"]
        for s in annotation["segments_info"]:
            if s["category_id"] in things:
                rle = pycocotools_mask.encode(np.asfortranarray(id_maps[image_id] == s["id"]).astype(np.uint8))
                annotations.append(dict(image_id=image_id, id=len(annotations) + 1, category_id=s["category_id"],
                                        segmentation=rle, area=s["area"], bbox=s["bbox"], iscrowd=s["iscrowd"]))
    results = coco_results(detections, metadata, task)
    categories = [c for c in dataset["categories"] if c["id"] in things]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": dataset["images"], "annotations": annotations, "categories": categories}
        coco_gt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(results), task)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


@pytest.mark.parametrize("backend", ["hotcoco", "pycocotools"])
def test_ap_equals_pycocotools(backend, sample_gt, sample_metadata):
    detections = _sample_detections(sample_gt, sample_metadata)
    evaluator = PanFPNInstanceEvaluator(sample_metadata.name, distributed=False, backend=backend)
    evaluator.reset()
    for image_id, instances in detections.items():
        evaluator.process([{"image_id": image_id}], [{"instances": instances}])
    results = evaluator.evaluate()
    for task in ("bbox", "segm"):
        stats = _pycocotools_reference(sample_gt, sample_metadata, detections, task)
        got = [results[task][m] for m in AP_METRICS]
        # COCOeval's -1 (no ground truth in an area range) is NaN, as in detectron2's COCOEvaluator
        expected = np.where(np.asarray(stats[:6]) < 0, np.nan, 100 * np.asarray(stats[:6]))
        np.testing.assert_allclose(got, expected, atol=1e-9, equal_nan=True)
        assert "AP-person" in results[task]
    assert 0 < results["segm"]["AP"] < 100


def test_exact_detections_score_100(sample_gt, sample_metadata):
    """Detections equal to the non-crowd GT things: segm AP 100 (crowd GT is not a miss)."""
    dataset, id_maps = sample_gt
    things = sample_metadata.thing_dataset_id_to_contiguous_id
    evaluator = PanFPNInstanceEvaluator(sample_metadata.name, tasks=("segm",), distributed=False)
    evaluator.reset()
    for annotation in dataset["annotations"]:
        segments = [s for s in annotation["segments_info"] if s["category_id"] in things and not s["iscrowd"]]
        instances = Instances(id_maps[annotation["image_id"]].shape)
        instances.pred_masks = torch.from_numpy(np.stack([id_maps[annotation["image_id"]] == s["id"] for s in segments]))
        instances.pred_boxes = Boxes(torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (s["bbox"] for s in segments)], dtype=torch.float32))
        instances.scores = torch.ones(len(segments))
        instances.pred_classes = torch.tensor([things[s["category_id"]] for s in segments])
        evaluator.process([{"image_id": annotation["image_id"]}], [{"instances": instances}])
    results = evaluator.evaluate()
    assert list(results) == ["segm"]
    assert results["segm"]["AP"] == pytest.approx(100.0)


@pytest.mark.parametrize("backend", ["hotcoco", "pycocotools"])
def test_coco_ap_takes_any_image_ids(backend):
    """String (Cityscapes) or negative ids give the numbers of the same data with integer ids, ties
    between images included (broken in the ground truth's image order, as sorted integer ids are)."""
    from panfpn_d2.evaluation.instance_evaluation import coco_ap

    def data(image_ids):
        images = [{"id": i, "height": 40, "width": 40} for i in image_ids]
        boxes = ([2, 2, 10, 10], [20, 20, 8, 12], [5, 25, 10, 10])
        annotations = [
            {"id": 3 * k + n + 1, "image_id": i, "category_id": 1 + n % 2, "bbox": box, "area": box[2] * box[3],
             "iscrowd": 0}
            for k, i in enumerate(image_ids) for n, box in enumerate(boxes)
        ]
        detections = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.5,
             "bbox": [a["bbox"][0] + (3 if k % 4 == 1 else 0)] + a["bbox"][1:]}
            for k, a in enumerate(annotations)
        ]
        categories = [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}]
        return {"images": images, "annotations": annotations, "categories": categories}, detections

    with contextlib.redirect_stdout(io.StringIO()):
        expected, _ = coco_ap(*data([1, 2, 3]), "bbox", ["person", "car"], backend)
        for image_ids in (["lindau_000002_000019", "zurich_000001_000019", "aachen_000000_000019"], [-1, -2, 0]):
            results, _ = coco_ap(*data(image_ids), "bbox", ["person", "car"], backend)
            assert results == pytest.approx(expected, nan_ok=True), image_ids
    assert 0 < expected["AP"] < 100
    with pytest.raises(KeyError, match="'berlin_1'"):
        ground_truth, detections = data(["a", "b", "c"])
        coco_ap(ground_truth, detections + [dict(detections[0], image_id="berlin_1")], "bbox", ["person", "car"], backend)


@pytest.mark.parametrize("looks_compiled", [False, True])
def test_a_c_module_whose_attributes_raise_means_hotcoco_and_evaluation_runs(
    looks_compiled, sample_gt, sample_metadata, monkeypatch
):
    """A ``detectron2._C`` that is not this project's fallback and raises NotImplementedError on every
    attribute (as other stand-ins do): op detection answers False instead of raising, and the
    evaluation runs on hotcoco with the numbers of an explicit hotcoco evaluation."""
    import sys
    import types

    import detectron2

    from panfpn_d2.evaluation.instance_evaluation import default_backend
    from panfpn_d2.utils.env import has_compiled_coco_eval

    def raise_on_any_attribute(name):
        raise NotImplementedError(f"detectron2._C.{name} is not compiled")

    stand_in = types.ModuleType("detectron2._C")
    stand_in.__getattr__ = raise_on_any_attribute
    if looks_compiled:
        stand_in.__file__ = "/site-packages/detectron2/_C.cpython-311-x86_64-linux-gnu.so"
    monkeypatch.setitem(sys.modules, "detectron2._C", stand_in)
    monkeypatch.setattr(detectron2, "_C", stand_in, raising=False)
    has_compiled_coco_eval.cache_clear()
    try:
        assert has_compiled_coco_eval() is False and default_backend() == "hotcoco"
        detections = _sample_detections(sample_gt, sample_metadata)
        results = {}
        for backend in (None, "hotcoco"):
            kwargs = {} if backend is None else {"backend": backend}
            evaluator = PanFPNInstanceEvaluator(sample_metadata.name, distributed=False, **kwargs)
            evaluator.reset()
            for image_id, instances in detections.items():
                evaluator.process([{"image_id": image_id}], [{"instances": instances}])
            results[backend] = evaluator.evaluate()
    finally:
        has_compiled_coco_eval.cache_clear()
    assert 0 < results[None]["segm"]["AP"] < 100
    assert list(results[None]) == list(results["hotcoco"]) == ["bbox", "segm"]
    for task, metrics in results["hotcoco"].items():
        assert results[None][task] == pytest.approx(metrics, nan_ok=True)
