"""Cityscapes' own metrics (cityscapesscripts) on a tiny generated gtFine layout: perfect predictions
score 100, perturbed ones give the numbers of cityscapesscripts run directly on the same files."""
import contextlib
import copy
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from PIL import Image

from panfpn_d2.config import add_panfpn_config
from panfpn_d2.data.datasets import register_cityscapes_panoptic
from panfpn_d2.evaluation import (
    PanFPNCityscapesInstanceEvaluator,
    PanFPNCityscapesSemSegEvaluator,
    PanFPNInstanceEvaluator,
    PanFPNPanopticEvaluator,
    PanFPNSemSegEvaluator,
    build_evaluator,
)
from panfpn_d2.evaluation.build import MergingDatasetEvaluators
from panfpn_d2.evaluation.cityscapes_evaluation import NumpyWithIn1d, numpy_for_cityscapesscripts, run_cityscapesscripts
from tests.support.distributed import run_on_processes

DATASET = "panfpn_test_evaluation_cityscapes_fixture"
HEIGHT, WIDTH = 48, 96
# Cityscapes label ids: 0 unlabeled (void), 7 road, 11 building, 23 sky, 24 person, 26 car, 33 bicycle.
# Instance ids are label id * 1000 + k; a bare label id on a thing class is a crowd ("group").
# (row slice, column slice, instance id) painted over the background, per image.
INSTANCES = {
    "zurich_000001_000019": [
        (slice(18, 34), slice(4, 24), 26000),
        (slice(20, 34), slice(30, 50), 26001),
        (slice(10, 34), slice(60, 68), 24000),
        (slice(26, 34), slice(80, 92), 26),
    ],
    "lindau_000002_000019": [
        (slice(16, 36), slice(10, 40), 26000),
        (slice(12, 36), slice(50, 58), 24000),
        (slice(28, 38), slice(70, 90), 33000),
    ],
}
IMAGE_IDS = sorted(INSTANCES)


def instance_id_map(image_id):
    ids = np.full((HEIGHT, WIDTH), 11, dtype=np.uint16)
    ids[:12] = 23
    ids[30:] = 7
    ids[:3, :10] = 0
    for rows, columns, instance_id in INSTANCES[image_id]:
        ids[rows, columns] = instance_id
    return ids


def label_id_map(instance_ids):
    return np.where(instance_ids >= 1000, instance_ids // 1000, instance_ids).astype(np.uint8)


@pytest.fixture(scope="module")
def cityscapes_dataset(tmp_path_factory):
    """The layout registered as a Cityscapes val split; returns the gtFine/val folder."""
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    root = tmp_path_factory.mktemp("cityscapes")
    for image_id in IMAGE_IDS:
        city_dir = root / "gtFine" / "val" / image_id.split("_")[0]
        city_dir.mkdir(parents=True, exist_ok=True)
        ids = instance_id_map(image_id)
        Image.fromarray(ids).save(city_dir / f"{image_id}_gtFine_instanceIds.png")
        Image.fromarray(label_id_map(ids)).save(city_dir / f"{image_id}_gtFine_labelIds.png")
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(str(root / "gtFine"), str(root / "gtFine"), setNames=["val"])
    register_cityscapes_panoptic(DATASET, str(root), "val")
    yield root / "gtFine" / "val"
    DatasetCatalog.pop(DATASET, None)
    MetadataCatalog.pop(DATASET, None)


def train_id_map(label_ids):
    """Cityscapes trainIds (= the "all" layout's labels); void pixels predicted as road (trainId 0)."""
    from cityscapesscripts.helpers.labels import id2label

    lookup = np.array([id2label[i].trainId if id2label[i].trainId not in (-1, 255) else 0 for i in range(34)])
    return lookup[label_ids]


def perfect_train_ids(image_id):
    return train_id_map(label_id_map(instance_id_map(image_id)))


def semantic_output(train_ids):
    return torch.nn.functional.one_hot(torch.from_numpy(train_ids).long(), 19).permute(2, 0, 1).float()


def semantic_outputs(train_ids_of, image_ids=IMAGE_IDS):
    """Model outputs of the images, ``train_ids_of(image_id)`` as one-hot scores."""
    return {i: {"sem_seg": semantic_output(train_ids_of(i))} for i in image_ids}


def instance_outputs(instances_of_image):
    return {i: {"instances": instances} for i, instances in instances_of_image.items()}


def instances_output(masks, label_ids, scores):
    """Instances of boolean masks with Cityscapes label ids (as thing contiguous classes)."""
    to_contiguous = MetadataCatalog.get(DATASET).thing_dataset_id_to_contiguous_id
    instances = Instances((HEIGHT, WIDTH))
    masks = torch.from_numpy(np.asarray(masks, dtype=bool).reshape(-1, HEIGHT, WIDTH))
    boxes = []
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    instances.pred_masks = masks
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.pred_classes = torch.tensor([to_contiguous[i] for i in label_ids], dtype=torch.int64)
    instances.scores = torch.tensor(scores, dtype=torch.float32)
    return instances


def gt_instances(image_id):
    """(masks, label ids) of the image's instances (the crowd left out)."""
    ids = instance_id_map(image_id)
    kept = [i for _, _, i in INSTANCES[image_id] if i >= 1000]
    return [ids == i for i in kept], [i // 1000 for i in kept]


def evaluate(evaluator, outputs):
    evaluator.reset()
    for image_id, output in outputs.items():
        evaluator.process([{"image_id": image_id, "file_name": f"{image_id}_leftImg8bit.png"}], [output])
    return evaluator.evaluate()


def reference_args(module, **settings):
    args = copy.copy(module.args)
    args.quiet, args.JSONOutput, args.colorized, args.bold, args.nocol = True, False, False, "", ""
    for key, value in settings.items():
        setattr(args, key, value)
    return args


def perturbed_train_ids(image_id):
    """A worse semantic prediction: a car's lower rows as road, a band of sky as building."""
    train_ids = perfect_train_ids(image_id)
    train_ids[26:34, 4:24] = 0
    train_ids[4:8, 40:90] = 2
    return train_ids


def test_perfect_semantic_prediction_scores_100(cityscapes_dataset):
    results = evaluate(PanFPNCityscapesSemSegEvaluator(DATASET), semantic_outputs(perfect_train_ids))["sem_seg"]
    for key in ("IoU_cityscapes", "iIoU", "IoU_category", "iIoU_category", "iIoU-car", "iIoU-person",
                "iIoU-bicycle", "IoU_category-flat", "iIoU_category-vehicle", "iIoU_category-human"):
        assert results[key] == pytest.approx(100), key
    assert np.isnan(results["iIoU-truck"])  # no truck on either side
    assert not any(key.startswith("IoU-") for key in results)  # PanFPNSemSegEvaluator's keys


def test_perturbed_semantic_prediction_gives_cityscapesscripts_numbers(cityscapes_dataset, tmp_path):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as pixel_level
    from cityscapesscripts.helpers.labels import trainId2label

    predictions, gt_files = [], []
    for image_id in IMAGE_IDS:
        label_ids = np.vectorize(lambda t: trainId2label[t].id)(perturbed_train_ids(image_id)).astype(np.uint8)
        predictions.append(str(tmp_path / f"{image_id}.png"))
        Image.fromarray(label_ids).save(predictions[-1])
        gt_files.append(str(cityscapes_dataset / image_id.split("_")[0] / f"{image_id}_gtFine_labelIds.png"))
    with contextlib.redirect_stdout(io.StringIO()), numpy_for_cityscapesscripts(pixel_level):
        expected = pixel_level.evaluateImgLists(predictions, gt_files, reference_args(pixel_level))

    outputs = semantic_outputs(perturbed_train_ids)
    results = evaluate(PanFPNCityscapesSemSegEvaluator(DATASET), outputs)["sem_seg"]
    assert results["IoU_cityscapes"] == pytest.approx(100 * expected["averageScoreClasses"])
    assert results["iIoU"] == pytest.approx(100 * expected["averageScoreInstClasses"])
    assert results["IoU_category"] == pytest.approx(100 * expected["averageScoreCategories"])
    assert results["iIoU_category"] == pytest.approx(100 * expected["averageScoreInstCategories"])
    assert results["iIoU-car"] == pytest.approx(100 * expected["classInstScores"]["car"])
    assert results["IoU_category-nature"] == pytest.approx(100 * expected["categoryScores"]["nature"], nan_ok=True)
    for key in ("IoU_cityscapes", "iIoU", "IoU_category", "iIoU_category", "iIoU-car"):
        assert 30 < results[key] < 99, key
    # Same classes, same void: cityscapesscripts' class IoU is the "all" mode's mIoU.
    miou = evaluate(PanFPNSemSegEvaluator(DATASET, "all"), outputs)["sem_seg"]["mIoU"]
    assert results["IoU_cityscapes"] == pytest.approx(miou)


def perfect_instances(image_id):
    masks, label_ids = gt_instances(image_id)
    return instances_output(masks, label_ids, [0.9] * len(masks))


def test_perfect_instances_score_ap_100(cityscapes_dataset):
    outputs = instance_outputs({i: perfect_instances(i) for i in IMAGE_IDS})
    results = evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), outputs)["segm_cityscapes"]
    assert results["AP"] == pytest.approx(100) and results["AP50"] == pytest.approx(100)
    assert results["AP-car"] == pytest.approx(100) and results["AP-bicycle"] == pytest.approx(100)
    assert np.isnan(results["AP-truck"])


def perturbed_instances():
    """zurich's second car shifted 3 columns (mask IoU 238/322 = 0.74) with a lower score."""
    masks, label_ids = gt_instances("zurich_000001_000019")
    masks[1] = np.roll(masks[1], 3, axis=1)
    zurich = instances_output(masks, label_ids, [0.9, 0.5, 0.9])
    return {"zurich_000001_000019": zurich, "lindau_000002_000019": perfect_instances("lindau_000002_000019")}


def test_perturbed_instances_give_cityscapesscripts_numbers(cityscapes_dataset, tmp_path, monkeypatch):
    from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as instance_level

    outputs = instance_outputs(perturbed_instances())
    results = evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), outputs)["segm_cityscapes"]
    # The shifted car matches at IoU thresholds 0.5..0.7; at 0.75..0.95 car precision is 1 up to
    # recall 2/3 (AP 2/3). car AP = (5 + 5 * 2/3) / 10; person and bicycle 1.
    assert results["AP-car"] == pytest.approx(100 * (5 + 5 * 2 / 3) / 10)
    assert results["AP"] == pytest.approx(100 * (5 / 6 + 2) / 3)
    assert results["AP50"] == pytest.approx(100)

    # cityscapesscripts' own entry point on files the test writes itself.
    monkeypatch.chdir(tmp_path)  # evaluateImgLists writes matches.json into the current folder
    predictions, gt_files = [], []
    for image_id, instances in perturbed_instances().items():
        lines = []
        for k, (mask, label_id) in enumerate(zip(instances.pred_masks.numpy(), gt_instances(image_id)[1])):
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / f"{image_id}_mask{k}.png")
            lines.append(f"{image_id}_mask{k}.png {label_id} {instances.scores[k].item()}\n")
        predictions.append(str(tmp_path / f"{image_id}_predictions.txt"))
        with open(predictions[-1], "w") as f:
            f.writelines(lines)
        gt_files.append(str(cityscapes_dataset / image_id.split("_")[0] / f"{image_id}_gtFine_instanceIds.png"))
    args = reference_args(
        instance_level, predictionPath=str(tmp_path), gtInstancesFile=str(tmp_path / "gtInstances.json")
    )
    # Its entry point caches the ground truth and the matches as JSON through `o.__dict__`, which numpy 2's
    # integer scalars lack (PanFPNCityscapesInstanceEvaluator writes neither file).
    monkeypatch.setattr(instance_level, "writeDict2JSON", lambda data, path: Path(path).write_text(
        json.dumps(data, default=lambda o: o.item() if isinstance(o, np.generic) else o.__dict__)))
    with contextlib.redirect_stdout(io.StringIO()), numpy_for_cityscapesscripts(instance_level):
        expected = instance_level.evaluateImgLists(predictions, gt_files, args)["averages"]
    assert results["AP"] == pytest.approx(100 * expected["allAp"])
    assert results["AP50"] == pytest.approx(100 * expected["allAp50%"])
    assert results["AP-person"] == pytest.approx(100 * expected["classes"]["person"]["ap"])


def test_an_image_without_instances_counts_its_ground_truth_as_missed(cityscapes_dataset):
    outputs = instance_outputs(
        {"zurich_000001_000019": perfect_instances("zurich_000001_000019"),
         "lindau_000002_000019": instances_output([], [], [])}
    )
    results = evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), outputs)["segm_cityscapes"]
    assert results["AP-bicycle"] == 0  # lindau's only bicycle is missed
    assert results["AP-car"] == pytest.approx(100 * 2 / 3)  # 2 of 3 cars found, at precision 1


def perfect_panoptic(image_id):
    """The ground truth panoptic map and segments of an image, as a model's ``panoptic_seg``."""
    from panfpn_lite.panoptic_format import read_panoptic_png

    record = next(d for d in DatasetCatalog.get(DATASET) if d["image_id"] == image_id)
    segments = [
        {"id": s["id"], "isthing": bool(s["isthing"]), "category_id": s["category_id"], "score": 0.9}
        for s in record["segments_info"]
    ]
    return torch.from_numpy(read_panoptic_png(record["pan_seg_file_name"]).astype(np.int32)), segments


def test_coco_style_evaluators_take_string_image_ids(cityscapes_dataset):
    """Cityscapes image ids are strings ("lindau_000002_000019"): COCO AP and PQ of perfect
    predictions are 100, both branches evaluated in one run as build_evaluator sets it up."""
    assert all(isinstance(d["image_id"], str) for d in DatasetCatalog.get(DATASET))
    outputs = {i: {"instances": perfect_instances(i), "panoptic_seg": perfect_panoptic(i)} for i in IMAGE_IDS}
    results = evaluate(
        MergingDatasetEvaluators([PanFPNInstanceEvaluator(DATASET), PanFPNPanopticEvaluator(DATASET)]), outputs
    )
    for task in ("bbox", "segm"):
        assert results[task]["AP"] == pytest.approx(100), task
        assert results[task]["AP-car"] == pytest.approx(100) and results[task]["AP-bicycle"] == pytest.approx(100)
    for key in ("PQ", "PQ_th", "PQ_st", "SQ", "RQ", "PQ-car", "PQ-road"):
        assert results["panoptic_seg"][key] == pytest.approx(100), key


def test_coco_style_evaluators_score_string_image_id_subsets(cityscapes_dataset):
    """One of the two images, with its cars dropped: numbers of that image only."""
    image_id = "zurich_000001_000019"
    instances = perfect_instances(image_id)
    id_map, segments = perfect_panoptic(image_id)
    cars = MetadataCatalog.get(DATASET).thing_dataset_id_to_contiguous_id[26]
    instances = instances[instances.pred_classes != cars]
    segments = [s for s in segments if not (s["isthing"] and s["category_id"] == cars)]
    id_map = torch.where(torch.isin(id_map, torch.tensor([s["id"] for s in segments])), id_map, 0)
    outputs = {image_id: {"instances": instances, "panoptic_seg": (id_map, segments)}}
    results = evaluate(
        MergingDatasetEvaluators([PanFPNInstanceEvaluator(DATASET), PanFPNPanopticEvaluator(DATASET)]), outputs
    )
    assert results["segm"]["AP-car"] == 0 and results["segm"]["AP-person"] == pytest.approx(100)
    assert np.isnan(results["segm"]["AP-bicycle"])  # lindau's bicycle is not evaluated
    assert results["panoptic_seg"]["PQ-car"] == 0 and results["panoptic_seg"]["PQ-person"] == pytest.approx(100)
    assert "PQ-bicycle" not in results["panoptic_seg"]


def test_only_processed_images_are_scored(cityscapes_dataset):
    outputs = instance_outputs({"lindau_000002_000019": perfect_instances("lindau_000002_000019")})
    assert evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), outputs)["segm_cityscapes"]["AP"] == pytest.approx(100)


def test_prediction_folder_is_removed_after_evaluation(cityscapes_dataset):
    evaluator = PanFPNCityscapesSemSegEvaluator(DATASET)
    evaluator.reset()
    folder = evaluator._prediction_path
    image_id = IMAGE_IDS[0]
    evaluator.process([{"image_id": image_id}], [{"sem_seg": semantic_output(perfect_train_ids(image_id))}])
    assert os.listdir(folder) == [f"{image_id}_pred_labelIds.png"]
    evaluator.evaluate()
    assert not os.path.exists(folder)


def test_errors_name_the_image_and_the_value(cityscapes_dataset):
    semantic = PanFPNCityscapesSemSegEvaluator(DATASET)
    good_scores = semantic_output(perfect_train_ids(IMAGE_IDS[0]))
    with pytest.raises(RuntimeError, match="before reset"):
        semantic.process([{"image_id": IMAGE_IDS[0]}], [{"sem_seg": good_scores}])
    semantic.reset()
    with pytest.raises(ValueError, match=f"image_id {IMAGE_IDS[0]}: sem_seg has 18 classes.*has 19"):
        semantic.process([{"image_id": IMAGE_IDS[0]}], [{"sem_seg": good_scores[:18]}])
    with pytest.raises(ValueError, match=r"sem_seg is \(24, 96\).*is \(48, 96\)"):
        semantic.process([{"image_id": IMAGE_IDS[0]}], [{"sem_seg": good_scores[:, :24]}])
    with pytest.raises(KeyError, match="no image with id 'berlin_000000_000000'"):
        semantic.process([{"image_id": "berlin_000000_000000"}], [{"sem_seg": good_scores}])

    instance = PanFPNCityscapesInstanceEvaluator(DATASET)
    instance.reset()
    bad = perfect_instances(IMAGE_IDS[0])
    bad.pred_classes[0] = 8
    with pytest.raises(KeyError, match=r"pred_classes \[8\] are not thing contiguous ids"):
        instance.process([{"image_id": IMAGE_IDS[0]}], [{"instances": bad}])

    MetadataCatalog.get("panfpn_test_evaluation_cityscapes_no_gt_dir").set(evaluator_type="cityscapes_panoptic_seg")
    with pytest.raises(KeyError, match="'panfpn_test_evaluation_cityscapes_no_gt_dir'.*'gt_dir'"):
        PanFPNCityscapesSemSegEvaluator("panfpn_test_evaluation_cityscapes_no_gt_dir")


def _cfg(thing_mode, semantic_weight, instance_weight):
    cfg = add_panfpn_config(get_cfg())
    cfg.MODEL.PANFPN.SEM_SEG_THING_MODE = thing_mode
    cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT = semantic_weight
    cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT = instance_weight
    return cfg


@pytest.mark.parametrize(
    "thing_mode, weights, expected",
    [
        ("all", (0.5, 1.0), [PanFPNSemSegEvaluator, PanFPNCityscapesSemSegEvaluator, PanFPNInstanceEvaluator,
                             PanFPNCityscapesInstanceEvaluator, PanFPNPanopticEvaluator]),
        ("other", (0.5, 1.0), [PanFPNSemSegEvaluator, PanFPNInstanceEvaluator, PanFPNCityscapesInstanceEvaluator,
                               PanFPNPanopticEvaluator]),
        # a single branch: PQ over stuff (Semantic FPN alone) or things (Mask R-CNN alone)
        ("all", (0.5, 0.0), [PanFPNSemSegEvaluator, PanFPNCityscapesSemSegEvaluator, PanFPNPanopticEvaluator]),
        ("all", (0.0, 1.0), [PanFPNInstanceEvaluator, PanFPNCityscapesInstanceEvaluator, PanFPNPanopticEvaluator]),
    ],
)
def test_build_evaluator_adds_the_cityscapes_evaluators(thing_mode, weights, expected, cityscapes_dataset):
    evaluators = build_evaluator(_cfg(thing_mode, *weights), DATASET)
    assert [type(e) for e in evaluators._evaluators] == expected


def test_build_evaluator_puts_prediction_files_under_the_configured_temp_root(cityscapes_dataset, tmp_path):
    cfg = _cfg("all", 0.5, 1.0)
    cfg.TEST.CITYSCAPES_TEMP_ROOT = str(tmp_path / "shared")
    os.makedirs(cfg.TEST.CITYSCAPES_TEMP_ROOT)
    cityscapes = [e for e in build_evaluator(cfg, DATASET)._evaluators if "Cityscapes" in type(e).__name__]
    assert len(cityscapes) == 2
    for evaluator in cityscapes:
        evaluator.reset()
        assert os.path.dirname(evaluator._prediction_path) == cfg.TEST.CITYSCAPES_TEMP_ROOT


def test_one_evaluation_reports_both_semantic_metric_sets(cityscapes_dataset):
    cfg = _cfg("all", 0.5, 0.0)
    cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED = False  # semantic outputs only
    evaluators = build_evaluator(cfg, DATASET)
    results = evaluate(evaluators, semantic_outputs(perturbed_train_ids))
    assert set(results) == {"sem_seg"}
    assert {"mIoU", "fwIoU", "IoU-car", "IoU_cityscapes", "iIoU", "iIoU-car"} <= set(results["sem_seg"])
    assert results["sem_seg"]["IoU_cityscapes"] == pytest.approx(results["sem_seg"]["mIoU"])


def test_merging_rejects_a_metric_reported_twice(cityscapes_dataset):
    twice = MergingDatasetEvaluators([PanFPNCityscapesSemSegEvaluator(DATASET) for _ in range(2)])
    with pytest.raises(KeyError, match=r"PanFPNCityscapesSemSegEvaluator reports sem_seg metrics \['IoU_category"):
        evaluate(twice, semantic_outputs(perfect_train_ids))


def test_a_cityscapesscripts_exit_becomes_an_error_with_its_message():
    from cityscapesscripts.helpers import csHelpers

    with pytest.raises(RuntimeError, match="cityscapesscripts matching failed: ERROR: no such file x.png"):
        run_cityscapesscripts("matching", csHelpers, csHelpers.printError, "no such file x.png")


@pytest.mark.parametrize("invert", [False, True])
def test_in1d_for_cityscapesscripts_is_numpys_membership_test_flattened(invert):
    rng = np.random.default_rng(0)
    values, members = rng.integers(0, 40, size=(7, 9)), rng.integers(0, 40, size=12)
    member_set = set(members.tolist())
    expected = np.array([(v in member_set) != invert for v in values.ravel().tolist()])
    result = NumpyWithIn1d().in1d(values, members, invert=invert)
    assert result.shape == (63,) and np.array_equal(result, expected)


def test_cityscapesscripts_sees_in1d_only_while_it_runs_and_numpy_is_unchanged():
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as pixel_level

    had_in1d = hasattr(np, "in1d")
    with numpy_for_cityscapesscripts(pixel_level):
        assert callable(pixel_level.np.in1d) and pixel_level.np.isin is np.isin
    assert pixel_level.np is np and hasattr(np, "in1d") == had_in1d


def _distributed_worker(rank, world_size, cityscapes_root):
    register_cityscapes_panoptic(DATASET, cityscapes_root, "val")
    image_ids = IMAGE_IDS[rank::world_size]
    semantic = evaluate(PanFPNCityscapesSemSegEvaluator(DATASET), semantic_outputs(perturbed_train_ids, image_ids))
    instances = instance_outputs({i: o for i, o in perturbed_instances().items() if i in image_ids})
    return {**semantic, **evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), instances)}


def test_two_processes_share_one_prediction_folder(cityscapes_dataset):
    """Each rank writes one image into rank 0's folder; rank 0 scores both, as one process does."""
    single = {
        **evaluate(PanFPNCityscapesSemSegEvaluator(DATASET), semantic_outputs(perturbed_train_ids)),
        **evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), instance_outputs(perturbed_instances())),
    }
    results = run_on_processes(_distributed_worker, 2, str(cityscapes_dataset.parents[1]))
    assert results[1] == {}
    assert results[0]["sem_seg"] == pytest.approx(single["sem_seg"], nan_ok=True)
    assert results[0]["segm_cityscapes"] == pytest.approx(single["segm_cityscapes"], nan_ok=True)


def test_without_cityscapesscripts_the_error_names_the_extra(cityscapes_dataset, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cityscapesscripts.evaluation", None)  # import raises ImportError
    with pytest.raises(ImportError, match=r"PanFPNCityscapesSemSegEvaluator needs 'cityscapesscripts', which is "
                                          r"not installed: pip install 'panfpn_d2\[cityscapes\]'"):
        PanFPNCityscapesSemSegEvaluator(DATASET)


def test_numbers_are_the_same_on_every_install_route(cityscapes_dataset):
    """The fixture's perturbed predictions give these numbers on both CI routes (detectron2 v0.6 with
    numpy 1.23, detectron2 main with numpy 2.4): exact, so a route where cityscapesscripts computes
    differently fails here."""
    semantic = evaluate(PanFPNCityscapesSemSegEvaluator(DATASET), semantic_outputs(perturbed_train_ids))["sem_seg"]
    instance = evaluate(PanFPNCityscapesInstanceEvaluator(DATASET), instance_outputs(perturbed_instances()))
    assert {k: semantic[k] for k in ("IoU_cityscapes", "iIoU", "IoU_category", "iIoU_category")} == {
        "IoU_cityscapes": 89.23346436624108,
        "iIoU": 92.37037037037038,
        "IoU_category": 87.64132446732319,
        "iIoU_category": 89.79752340796318,
    }
    assert {k: instance["segm_cityscapes"][k] for k in ("AP", "AP50", "AP-car")} == {
        "AP": 94.44444444444444,
        "AP50": 100.0,
        "AP-car": 83.33333333333334,
    }


def test_detectron2_evaluators_give_this_projects_numbers(cityscapes_dataset, tmp_path, monkeypatch):
    """TEST.EVALUATORS "detectron2" on Cityscapes: detectron2's SemSegEvaluator, COCOEvaluator,
    COCOPanopticEvaluator and Cityscapes evaluators, on the same outputs as this project's."""
    monkeypatch.chdir(tmp_path)  # nothing may be written to the current folder
    records = {d["image_id"]: d for d in DatasetCatalog.get(DATASET)}
    semantic = semantic_outputs(perturbed_train_ids)
    instances = perturbed_instances()
    inputs_outputs = [
        ({"image_id": i, "file_name": records[i]["file_name"]},
         {"sem_seg": semantic[i]["sem_seg"], "instances": instances[i], "panoptic_seg": perfect_panoptic(i)})
        for i in IMAGE_IDS
    ]
    results = {}
    for evaluators in ("panfpn", "detectron2"):
        cfg = _cfg("all", 0.5, 1.0)
        cfg.TEST.EVALUATORS = evaluators
        cfg.OUTPUT_DIR = str(tmp_path / evaluators)
        evaluator = build_evaluator(cfg, DATASET)
        evaluator.reset()
        for model_input, output in inputs_outputs:
            evaluator.process([model_input], [output])
        results[evaluators] = evaluator.evaluate()
    ours, theirs = results["panfpn"], results["detectron2"]
    assert {p.name for p in tmp_path.iterdir()} == {"detectron2"}  # no matches.json in the current folder
    for key in ("fwIoU", "mACC", "pACC"):
        assert theirs["sem_seg"][key] == pytest.approx(ours["sem_seg"][key], abs=1e-6), key
    assert theirs["sem_seg"]["IoU"] == pytest.approx(ours["sem_seg"]["IoU_cityscapes"], abs=1e-6)
    assert theirs["sem_seg"]["iIoU"] == pytest.approx(ours["sem_seg"]["iIoU"], abs=1e-6)
    assert theirs["sem_seg"]["IoU_sup"] == pytest.approx(ours["sem_seg"]["IoU_category"], abs=1e-6)
    assert theirs["sem_seg"]["iIoU_sup"] == pytest.approx(ours["sem_seg"]["iIoU_category"], abs=1e-6)
    for key in ("AP", "AP50"):
        assert theirs["segm_cityscapes"][key] == pytest.approx(ours["segm_cityscapes"][key], abs=1e-6), key
    for task in ("bbox", "segm"):
        for key in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
            assert theirs[task][key] == pytest.approx(ours[task][key], abs=1e-6, nan_ok=True), (task, key)
    for key in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st"):
        assert theirs["panoptic_seg"][key] == pytest.approx(ours["panoptic_seg"][key], abs=1e-6), key
    assert 30 < ours["sem_seg"]["IoU_cityscapes"] < 99 and ours["segm_cityscapes"]["AP"] < 100

