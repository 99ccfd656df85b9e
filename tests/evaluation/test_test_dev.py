"""A split without annotations (COCO test-dev style): it registers from an image info JSON, and
--eval-only on it writes the COCO panoptic server's submission (PNG + JSON), no metrics."""
import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from panfpn_d2.data import register_panoptic_dataset
from panfpn_d2.data.dataset_mapper import read_panoptic_png
from panfpn_d2.data.datasets import coco_panoptic_categories
from panfpn_d2.engine import Trainer
from panfpn_d2.evaluation import PanFPNPanopticEvaluator, build_evaluator
from panfpn_d2.tools.random_weights import make_random_model_detect

from tests.support.configs import tiny_cfg
from tests.support.paths import COCO_SAMPLE

TEST_DEV = "panfpn_test_coco_test_dev_style"
IMAGE_INFO = COCO_SAMPLE / "images_info_examples.json"  # images (+ categories), no annotations


@pytest.fixture(scope="module")
def test_dev():
    if TEST_DEV not in DatasetCatalog:
        register_panoptic_dataset(TEST_DEV, str(IMAGE_INFO), str(COCO_SAMPLE / "input_images"), None,
                                  categories=coco_panoptic_categories(), has_annotations=False)
    return TEST_DEV


def test_registers_images_only(test_dev):
    records = DatasetCatalog.get(test_dev)
    assert [r["image_id"] for r in records] == [142238, 439180]
    assert all(set(r) == {"file_name", "image_id", "height", "width"} for r in records)
    with pytest.raises(ValueError, match="without annotations needs 'categories'"):
        register_panoptic_dataset("panfpn_test_no_categories", str(IMAGE_INFO), "images", None, has_annotations=False)


def test_build_evaluator_writes_a_submission_only(test_dev, tmp_path):
    cfg = tiny_cfg("Base-PanFPN.yaml", "OUTPUT_DIR", str(tmp_path))
    (evaluator,) = build_evaluator(cfg, test_dev)._evaluators
    assert isinstance(evaluator, PanFPNPanopticEvaluator) and evaluator._writer is not None
    assert evaluator._writer.output_dir == str(tmp_path / "inference" / test_dev)
    cfg.MODEL.PANOPTIC_FPN.COMBINE.ENABLED = False
    with pytest.raises(ValueError, match="has no annotations.*COMBINE.ENABLED False"):
        build_evaluator(cfg, test_dev)


def test_eval_only_writes_every_image_once_with_integer_ids(test_dev, tmp_path):
    cfg = tiny_cfg(
        "Base-PanFPN.yaml", "DATASETS.TEST", (test_dev,), "OUTPUT_DIR", str(tmp_path),
        "INPUT.MIN_SIZE_TEST", 128, "INPUT.MAX_SIZE_TEST", 224,
        "MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT", 16, "DATALOADER.NUM_WORKERS", 0,
    )
    torch.manual_seed(0)
    model = make_random_model_detect(build_model(cfg))
    results = Trainer.test(cfg, model)
    assert not results.get(test_dev)  # no metrics: nothing to score against
    out = tmp_path / "inference" / test_dev
    submission = json.loads((out / "panoptic_predictions.json").read_text())
    image_ids = [a["image_id"] for a in submission["annotations"]]
    assert sorted(image_ids) == [142238, 439180] and all(type(i) is int for i in image_ids)
    assert [i["id"] for i in submission["images"]] == [142238, 439180]
    panoptic_ids = {c["id"] for c in coco_panoptic_categories()}
    assert [c["id"] for c in submission["categories"]] == [c["id"] for c in coco_panoptic_categories()]
    sizes = {r["image_id"]: (r["height"], r["width"]) for r in DatasetCatalog.get(test_dev)}
    segments_seen = 0
    for annotation in submission["annotations"]:
        assert annotation["file_name"] == f"{annotation['image_id']:012d}.png"
        id_map = read_panoptic_png(str(out / "panoptic_predictions" / annotation["file_name"]))
        assert id_map.shape == sizes[annotation["image_id"]]  # at the original image size
        listed = {s["id"] for s in annotation["segments_info"]}
        assert set(np.unique(id_map)) - {0} == listed
        for segment in annotation["segments_info"]:
            assert segment["category_id"] in panoptic_ids  # dataset ids, not contiguous ones
            assert segment["area"] == int((id_map == segment["id"]).sum())
        segments_seen += len(listed)
    assert segments_seen > 0
    assert MetadataCatalog.get(test_dev).has_annotations is False
