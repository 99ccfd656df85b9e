"""Every YAML in configs/ merges, stays inside configs/, and builds its model; the docs list every plugin key."""
import pytest
import yaml

from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import build_model

import panfpn_d2
from panfpn_d2.config import load_config
from tests.support.paths import CONFIGS

ALL_CONFIGS = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml"))


def load(config_file, *opts):
    return load_config(str(CONFIGS / config_file), opts)


def test_there_is_a_config_for_every_table_of_the_paper():
    names = set(ALL_CONFIGS)
    for required in [
        "COCO-PanopticSegmentation/panfpn_R_50_1x.yaml",
        "COCO-PanopticSegmentation/panfpn_R_50_3x.yaml",
        "COCO-PanopticSegmentation/panfpn_R_101_3x.yaml",
        "COCO-PanopticSegmentation/maskrcnn_R_50_1x.yaml",
        "COCO-PanopticSegmentation/semantic_fpn_R_50_1x.yaml",
        "COCO-PanopticSegmentation/ablations/alternate_loss.yaml",
        "COCO-PanopticSegmentation/ablations/grouped_fpn.yaml",
        "Cityscapes-PanopticSegmentation/panfpn_R_50.yaml",
        "Cityscapes-PanopticSegmentation/panfpn_R_101.yaml",
        "Cityscapes-SemanticSegmentation/semfpn_R_50_width64.yaml",
        "Cityscapes-SemanticSegmentation/semfpn_R_50_width256.yaml",
        "Cityscapes-SemanticSegmentation/semfpn_R_50_concat.yaml",
        "Toy-PanopticSegmentation/panfpn_toy.yaml",
    ]:
        assert required in names, required
    assert sum("lambda_grid" in n for n in names) == 18


@pytest.mark.parametrize("config_file", ALL_CONFIGS)
def test_config_merges_and_bases_stay_inside_configs(config_file):
    path = CONFIGS / config_file
    base = yaml.safe_load(path.read_text()).get("_BASE_")
    if base is not None:
        resolved = (path.parent / base).resolve()
        assert CONFIGS.resolve() in resolved.parents and resolved.is_file(), base
    cfg = load(config_file)
    assert cfg.MODEL.META_ARCHITECTURE == "PanFPN"


@pytest.mark.parametrize("config_file", [c for c in ALL_CONFIGS if "/" in c])
def test_config_builds_its_model(config_file):
    # validate_config checks NUM_CLASSES against the registered dataset's metadata here
    cfg = load(config_file, "MODEL.DEVICE", "cpu")
    model = build_model(cfg)
    assert (model.sem_seg_head is None) == (cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT == 0)
    assert (model.roi_heads is None) == (cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT == 0)


def test_cityscapes_recipe_matches_the_paper():
    cfg = load("Cityscapes-PanopticSegmentation/panfpn_R_50.yaml")
    assert cfg.SOLVER.IMS_PER_BATCH == 32 and cfg.SOLVER.MAX_ITER == 65000
    assert cfg.SOLVER.BASE_LR == 0.01 and tuple(cfg.SOLVER.STEPS) == (40000, 55000)
    assert tuple(cfg.INPUT.CROP.SIZE) == (512, 1024) and cfg.INPUT.CROP.TYPE == "absolute"
    assert min(cfg.INPUT.MIN_SIZE_TRAIN) == 512 and max(cfg.INPUT.MIN_SIZE_TRAIN) == 2048
    assert cfg.MODEL.PANFPN.SEM_SEG_THING_MODE == "all" and cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == 19


def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, CfgNode):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_docs_document_every_plugin_key_with_its_default():
    docs = (CONFIGS.parent / "docs" / "training_evaluation.md").read_text()
    table = docs.split("The plugin's keys (`panfpn_d2/config.py`):")[1].split("\n\n")[1]
    documented = {}
    for row in table.splitlines()[2:]:
        key, default = (cell.strip().strip("`") for cell in row.split("|")[1:3])
        documented[key] = default
    detectron2_keys = dict(_leaves(get_cfg()))
    defaults = {k: v for k, v in _leaves(panfpn_d2.add_panfpn_config(get_cfg())) if k not in detectron2_keys}
    assert set(documented) == set(defaults)
    for key, value in defaults.items():
        assert documented[key] == (f'"{value}"' if isinstance(value, str) else str(value)), key
