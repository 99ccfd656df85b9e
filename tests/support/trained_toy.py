"""The toy model trained a few iterations (the fixture ``trained_toy`` in tests/conftest.py, and
tests that need more iterations)."""
from detectron2.utils.env import seed_all_rng

from panfpn_d2.engine import Trainer

from .configs import make_toy_root, toy_cfg


def train_toy(root, iterations: int):
    """(cfg with the weights of the toy trained ``iterations`` steps under ``root``, its train then
    val images); low score thresholds so that its still unsure instances reach the merge."""
    toy_root = make_toy_root(root / "data")
    cfg = toy_cfg(
        toy_root, root / "train", "SEED", 3, "SOLVER.MAX_ITER", iterations, "SOLVER.STEPS", (iterations - 1,),
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
