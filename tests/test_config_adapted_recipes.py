"""The ADE20K and Mapillary Vistas configs: the paper's recipe adapted as their comments say
(Mask2Former's image sizes, crops and schedule lengths for these datasets; the paper's COCO optimiser;
the COCO model's semantic branch on ADE20K, the Cityscapes model's on Mapillary)."""
import pytest
from panfpn_d2.config import configure_for_dataset
from tests.test_config import load
from tests.test_config_recipes import actual_recipe, expected_recipe

ADAPTED = {
    "ADE20K-PanopticSegmentation/panfpn_R_50.yaml": {
        "SCALES": (320, 1280), "CROP": (640, 640), "TEST_SIZE": (640, 2560),
        "MAX_ITER": 160000, "STEPS": (107000, 142000), "LIKE": "COCO-PanopticSegmentation/panfpn_R_50_1x.yaml",
    },
    "Mapillary-PanopticSegmentation/panfpn_R_50.yaml": {
        "SCALES": (1024, 4096), "CROP": (1024, 1024), "TEST_SIZE": (2048, 2048),
        "MAX_ITER": 300000, "STEPS": (200000, 267000), "LIKE": "Cityscapes-PanopticSegmentation/panfpn_R_50.yaml",
    },
}


@pytest.mark.parametrize("config_file", sorted(ADAPTED))
def test_adapted_recipe(config_file):
    adapted = ADAPTED[config_file]
    cfg = load(config_file)
    actual = actual_recipe(cfg)
    model_of = expected_recipe(adapted["LIKE"])
    for key in ("LAMBDA_I", "LAMBDA_S", "THING_MODE", "WIDTH", "AGGREGATION", "LOSS_SCHEDULE", "COLOR_AUG", "DEPTH"):
        assert actual[key] == model_of[key], key
    # the paper's COCO optimiser, steps at the COCO recipe's 2/3 and 8/9 of the schedule
    assert (actual["IMS_PER_BATCH"], actual["BASE_LR"]) == (16, 0.02)
    assert actual["MAX_ITER"] == adapted["MAX_ITER"] and actual["STEPS"] == adapted["STEPS"]
    assert [round(s / actual["MAX_ITER"], 2) for s in actual["STEPS"]] == [round(60 / 90, 2), round(80 / 90, 2)]
    assert (actual["SCALES"], actual["CROP"]) == (adapted["SCALES"], adapted["CROP"])
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == adapted["TEST_SIZE"]


@pytest.mark.parametrize("config_file", sorted(ADAPTED))
def test_class_counts_are_the_datasets(config_file):
    cfg = load(config_file)
    cfg.defrost()
    counts = (cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 1
    configure_for_dataset(cfg, cfg.DATASETS.TRAIN[0])
    assert (cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES) == counts
