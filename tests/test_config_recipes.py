"""Every shipped config's training recipe, asserted against the paper (arXiv 1901.02446).

The paper's values are written once, in PAPER, each with its source. A config's expected recipe is
its dataset's recipe plus what its name says it changes (backbone depth, a lambda cell, an
ablation); a config no rule covers fails, so a new config must be given its recipe here.
"""
import re

import pytest

from tests.test_config import ALL_CONFIGS, load

# (value, source). "paraphrase" = the paper's experimental setup in our words.
PAPER = {
    "coco": {
        "IMS_PER_BATCH": (16, "paraphrase of the COCO setup: 16 images per minibatch (8 GPUs)"),
        "BASE_LR": (0.02, "paraphrase of the COCO setup"),
        "MAX_ITER": (90000, "paraphrase of the COCO setup: 90k iterations"),
        "STEPS": ((60000, 80000), "paraphrase of the COCO setup: LR / 10 at 60k and 80k"),
        "SCALES": ((640, 800), "detectron2's Panoptic FPN recipe: shorter side 640-800 (the paper: Mask R-CNN's)"),
        "CROP": (None, "no crop on COCO"),
        "LAMBDA_I": (1.0, "Table 3a's COCO model = Table 2a's lambda_s = 0.5 row (lambda_i = 1)"),
        "LAMBDA_S": (0.5, "Table 3a's COCO model = Table 2a's lambda_s = 0.5 row"),
        "THING_MODE": ("other", "COCO: one 'other' class for all things"),
    },
    "cityscapes": {
        "IMS_PER_BATCH": (32, "paraphrase of the Cityscapes setup: 32 random 512x1024 crops per minibatch"),
        "BASE_LR": (0.01, "paraphrase of the Cityscapes setup"),
        "MAX_ITER": (65000, "paraphrase of the Cityscapes setup: 65k iterations"),
        "STEPS": ((40000, 55000), "paraphrase of the Cityscapes setup: LR / 10 at 40k and 55k"),
        "SCALES": ((512, 2048), "paraphrase of the Cityscapes setup: random scaling by 0.5-2.0x (of 1024)"),
        "CROP": ((512, 1024), "paraphrase of the Cityscapes setup: 512x1024 crops"),
        "LAMBDA_I": (0.5, "Table 3a/3c/3d's Cityscapes R50 model (AP 32.0, mIoU 75.0) = Table 2d's lambda_i = 0.5 row"),
        "LAMBDA_S": (1.0, "Table 2d: lambda_s = 1.0"),
        "THING_MODE": ("all", "Cityscapes: the semantic branch predicts all 19 classes"),
    },
    # Shared by both datasets.
    "WIDTH": (128, "Table 1c: width 128 is the default semantic branch"),
    "AGGREGATION": ("sum", "Table 1d: sum is the default aggregation"),
    "ALTERNATE_LENGTH": (2, '"in the latter case we train for twice as long" (Table 3c, alternate losses)'),
    "JOINT_GRID": ((0.5, 0.75, 1.0), 'Sec. 4.4: "select[s] the optimal lambda_s and lambda_i from {0.5, 0.75, 1.0}"'),
    "SWEEP": ((0.1, 0.25, 0.5, 0.75, 1.0), "Table 2: each lambda swept with the other at 1.0"),
    "COLOR_AUG": (
        "largest semantic backbone only",
        '"For the largest backbones for semantic segmentation, we perform color augmentation [40] and crop bootstrapping [5]."',
    ),
}

NOT_PAPER_RECIPES = {
    "Toy-PanopticSegmentation/panfpn_toy.yaml",  # the CPU quick start, no paper recipe
    # datasets the paper does not train on: their adapted recipes are asserted in tests/test_config_adapted_recipes.py
    "ADE20K-PanopticSegmentation/panfpn_R_50.yaml",
    "Mapillary-PanopticSegmentation/panfpn_R_50.yaml",
}
LAMBDA_FILE = re.compile(r"li(\d+)_ls(\d+)\.yaml$")
# Every config name the rules below know; any other is an error until given its recipe.
KNOWN_NAMES = re.compile(
    r"(Base-PanFPN(-Cityscapes)?|[A-Za-z-]+/(panfpn_R_(50|101)(_1x|_3x)?|panfpn_x2_R_50(_1x)?|maskrcnn_R_50(_1x)?|semantic_fpn_R_50(_1x)?"
    r"|ablations/(alternate_loss|grouped_fpn)|lambda_(sweep|joint_grid)/li\d+_ls\d+"
    r"|Base-SemanticFPN|semfpn_R_50_(width\d+|sum|concat)|semfpn_R_101_bootstrap))\.yaml"
)


def paper(dataset, key):
    return PAPER[dataset][key][0]


def lambda_from_name(digits: str) -> float:
    """'05' -> 0.5, '075' -> 0.75, '10' -> 1.0, '01' -> 0.1, '025' -> 0.25."""
    return float(digits[0] + "." + digits[1:])


def expected_recipe(config_file: str) -> dict:
    """The recipe the paper gives the config named ``config_file``."""
    if not KNOWN_NAMES.fullmatch(config_file):
        raise KeyError(f"{config_file}: no recipe rule; add one to tests/test_config_recipes.py")
    dataset = "coco" if config_file.startswith(("COCO", "Base-PanFPN.yaml")) else "cityscapes"
    schedule_scale = 1
    expected = {
        "IMS_PER_BATCH": paper(dataset, "IMS_PER_BATCH"),
        "BASE_LR": paper(dataset, "BASE_LR"),
        "SCALES": paper(dataset, "SCALES"),
        "CROP": paper(dataset, "CROP"),
        "LAMBDA_I": paper(dataset, "LAMBDA_I"),
        "LAMBDA_S": paper(dataset, "LAMBDA_S"),
        "THING_MODE": paper(dataset, "THING_MODE"),
        "WIDTH": PAPER["WIDTH"][0],
        "AGGREGATION": PAPER["AGGREGATION"][0],
        "LOSS_SCHEDULE": "combine",
        "GROUPED_FPN": False,
        "COLOR_AUG": False,
        "SEM_SEG_LOSS": "cross_entropy",
        "DEPTH": 101 if "_R_101" in config_file else 50,
    }
    name = config_file.rsplit("/", 1)[-1]
    if "/lambda_sweep/" in config_file or "/lambda_joint_grid/" in config_file:
        li, ls = (lambda_from_name(d) for d in LAMBDA_FILE.search(name).groups())
        grid = PAPER["JOINT_GRID"][0] if "/lambda_joint_grid/" in config_file else PAPER["SWEEP"][0]
        assert li in grid and ls in grid, config_file
        if "/lambda_sweep/" in config_file:
            assert 1.0 in (li, ls), f"{config_file}: a Table 2 sweep keeps one lambda at 1.0"
        expected.update(LAMBDA_I=li, LAMBDA_S=ls)
    elif name.startswith("maskrcnn_"):
        expected.update(LAMBDA_I=1.0, LAMBDA_S=0.0)  # Table 2's lambda_s = 0 row
    elif name.startswith("semantic_fpn_") or config_file.startswith("Cityscapes-SemanticSegmentation/"):
        expected.update(LAMBDA_I=0.0, LAMBDA_S=1.0)  # Table 2's lambda_i = 0 row, Table 1
    if name == "alternate_loss.yaml":
        expected["LOSS_SCHEDULE"] = "alternate"
        schedule_scale = PAPER["ALTERNATE_LENGTH"][0]
    if name == "grouped_fpn.yaml":
        expected["GROUPED_FPN"] = True
    width = re.search(r"_width(\d+)\.yaml$", name)
    if width:
        expected["WIDTH"] = int(width.group(1))
    if name.endswith("_concat.yaml"):
        expected["AGGREGATION"] = "concat"
    if name == "semfpn_R_101_bootstrap.yaml":
        # the largest semantic segmentation backbone shipped: colour augmentation + bootstrapping
        expected.update(WIDTH=256, COLOR_AUG=True, SEM_SEG_LOSS="bootstrap")
    if dataset == "coco" and "_3x" in name:
        # detectron2's 3x schedule (the paper trains 1x only)
        expected.update(MAX_ITER=270000, STEPS=(210000, 250000))
    else:
        expected["MAX_ITER"] = paper(dataset, "MAX_ITER") * schedule_scale
        expected["STEPS"] = tuple(s * schedule_scale for s in paper(dataset, "STEPS"))
    return expected


def actual_recipe(cfg) -> dict:
    sizes = cfg.INPUT.MIN_SIZE_TRAIN
    return {
        "IMS_PER_BATCH": cfg.SOLVER.IMS_PER_BATCH,
        "BASE_LR": cfg.SOLVER.BASE_LR,
        "MAX_ITER": cfg.SOLVER.MAX_ITER,
        "STEPS": tuple(cfg.SOLVER.STEPS),
        "SCALES": (min(sizes), max(sizes)),
        "CROP": tuple(cfg.INPUT.CROP.SIZE) if cfg.INPUT.CROP.ENABLED else None,
        "LAMBDA_I": cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT,
        "LAMBDA_S": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT,
        "THING_MODE": cfg.MODEL.PANFPN.SEM_SEG_THING_MODE,
        "WIDTH": cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM,
        "AGGREGATION": cfg.MODEL.PANFPN.SEM_SEG_AGGREGATION,
        "LOSS_SCHEDULE": cfg.MODEL.PANFPN.LOSS_SCHEDULE,
        "GROUPED_FPN": cfg.MODEL.PANFPN.GROUPED_FPN,
        "COLOR_AUG": cfg.INPUT.COLOR_AUG,
        "SEM_SEG_LOSS": cfg.MODEL.PANFPN.SEM_SEG_LOSS,
        "DEPTH": cfg.MODEL.RESNETS.DEPTH,
    }


PAPER_CONFIGS = [c for c in ALL_CONFIGS if c not in NOT_PAPER_RECIPES]


@pytest.mark.parametrize("config_file", PAPER_CONFIGS)
def test_config_follows_the_paper(config_file):
    expected = expected_recipe(config_file)
    actual = actual_recipe(load(config_file))
    wrong = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
    assert not wrong, f"{config_file}: (config, paper) differ for {wrong}"


def test_both_lambda_families_are_complete():
    for dataset in ("COCO", "Cityscapes"):
        sweep = {c for c in ALL_CONFIGS if c.startswith(f"{dataset}-") and "/lambda_sweep/" in c}
        joint = {c for c in ALL_CONFIGS if c.startswith(f"{dataset}-") and "/lambda_joint_grid/" in c}
        values = PAPER["SWEEP"][0]
        assert len(sweep) == 2 * len(values) - 1  # (1, 1) is in both sweeps
        assert len(joint) == len(PAPER["JOINT_GRID"][0]) ** 2
        main = expected_recipe(f"{dataset}-PanopticSegmentation/panfpn_R_50{'_1x' if dataset == 'COCO' else ''}.yaml")
        main_cell = {
            c for c in joint
            if (expected_recipe(c)["LAMBDA_I"], expected_recipe(c)["LAMBDA_S"]) == (main["LAMBDA_I"], main["LAMBDA_S"])
        }
        assert len(main_cell) == 1, dataset


def test_colour_augmentation_only_in_the_largest_semantic_config():
    with_colour = [c for c in PAPER_CONFIGS if load(c).INPUT.COLOR_AUG]
    assert with_colour == ["Cityscapes-SemanticSegmentation/semfpn_R_101_bootstrap.yaml"]


def test_a_config_without_a_rule_or_with_a_drifted_recipe_fails():
    with pytest.raises(KeyError, match="no recipe rule"):
        expected_recipe("COCO-PanopticSegmentation/panfpn_R_50_6x.yaml")
    # the rules reject what the paper does not have
    with pytest.raises(AssertionError, match="one lambda at 1.0"):
        expected_recipe("COCO-PanopticSegmentation/lambda_sweep/li05_ls05.yaml")
    # the pre-fix Cityscapes setting (Table 2b's row)
    cfg = load("Cityscapes-PanopticSegmentation/panfpn_R_50.yaml", "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", 0.5)
    assert actual_recipe(cfg)["LAMBDA_S"] != expected_recipe("Cityscapes-PanopticSegmentation/panfpn_R_50.yaml")["LAMBDA_S"]


@pytest.mark.parametrize("config_file", [c for c in PAPER_CONFIGS if "/panfpn_x2_" in c])
def test_x2_configs_merge_the_two_single_task_configs_of_their_dataset(config_file):
    cfg = load(config_file)
    two = cfg.MODEL.PANFPN.TWO_NETWORKS
    dataset, name = config_file.split("/")
    suffix = name[len("panfpn_x2_R_50"):]
    assert (two.INSTANCE_CONFIG, two.SEMANTIC_CONFIG) == (
        f"{dataset}/maskrcnn_R_50{suffix}", f"{dataset}/semantic_fpn_R_50{suffix}")
    for role in (two.INSTANCE_CONFIG, two.SEMANTIC_CONFIG):
        assert actual_recipe(load(role)) == expected_recipe(role)
    assert cfg.MODEL.WEIGHTS == ""  # no ImageNet initialisation for an evaluation-only model
