"""Fixtures every test folder shares; shared code lives in tests/support (pytest.ini puts the repository
root on sys.path, so tests import it as ``tests.support.<module>``)."""
import json

import pytest
import torch
from detectron2.utils.env import seed_all_rng

from panfpn_d2.engine import Trainer

from panfpn_lite.panoptic_format import read_panoptic_png
from tests.support.configs import make_toy_root, toy_cfg
from tests.support.paths import SAMPLE_JSON, SAMPLE_PNG_DIR
from tests.support.training import make_training_inputs

# The machine's other users get the remaining cores.
torch.set_num_threads(2)


@pytest.fixture
def training_inputs():
    return make_training_inputs()


@pytest.fixture(scope="session")
def sample_gt():
    """The COCO sample: its JSON dict and each image's segment-id map, keyed by image id."""
    dataset = json.loads(SAMPLE_JSON.read_text())
    id_maps = {a["image_id"]: read_panoptic_png(str(SAMPLE_PNG_DIR / a["file_name"])) for a in dataset["annotations"]}
    return dataset, id_maps


TOY_ITERATIONS = 12


@pytest.fixture(scope="session")
def trained_toy(tmp_path_factory):
    """(cfg with the trained weights, its images): the toy model after a short training; low
    score thresholds so that its still unsure instances reach the merge."""
    root = tmp_path_factory.mktemp("toy")
    toy_root = make_toy_root(root / "data")
    cfg = toy_cfg(
        toy_root, root / "train", "SEED", 3, "SOLVER.MAX_ITER", TOY_ITERATIONS, "SOLVER.STEPS", (TOY_ITERATIONS - 1,),
        "SOLVER.CHECKPOINT_PERIOD", 1000,
    )
    seed_all_rng(cfg.SEED)
    Trainer(cfg).train()
    cfg.merge_from_list([
        "MODEL.WEIGHTS", str(root / "train" / "model_final.pth"),
        "DATASETS.TEST", (cfg.DATASETS.TRAIN[0].replace("_train", "_val"),),
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.05,
        "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.1,
    ])
    images = sorted((toy_root / "train" / "images").glob("*")) + sorted((toy_root / "val" / "images").glob("*"))
    return cfg, images
