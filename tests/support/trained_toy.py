"""The toy model trained a few iterations (the fixture ``trained_toy`` in tests/conftest.py, and
tests that need more iterations), and the quick start's toy trained as the quick start does."""
import hashlib
from pathlib import Path

from detectron2.data import DatasetCatalog
from detectron2.utils.env import seed_all_rng

from panfpn_d2.config import load_config
from panfpn_d2.data.toy import SPLITS, generate_toy_dataset, register_toy_datasets
from panfpn_d2.engine import Trainer

from .configs import make_toy_root, toy_cfg
from .paths import TOY_CONFIG


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


def train_quickstart_toy(root: Path, *opts, num_train: int = SPLITS["train"], num_val: int = SPLITS["val"]):
    """(cfg with the trained weights and the val split as DATASETS.TEST, the training images' folder)
    of the quick start: configs/Toy-PanopticSegmentation/panfpn_toy.yaml as it is (600 iterations
    of 8 images, about 2.5 min on 2 cores), then ``opts``, on a toy dataset of ``num_train`` /
    ``num_val`` images of 128 px generated under ``root``."""
    toy_root = generate_toy_dataset(root / "data", num_train=num_train, num_val=num_val)
    prefix = "quickstart_toy_" + hashlib.sha1(str(toy_root).encode()).hexdigest()[:10]
    if f"{prefix}_train" not in DatasetCatalog:
        register_toy_datasets(toy_root, name_prefix=prefix)
    cfg = load_config(str(TOY_CONFIG), [
        "DATASETS.TRAIN", f"('{prefix}_train',)", "DATASETS.TEST", "()", "OUTPUT_DIR", str(root / "train"), "SEED", 0,
        *opts,
    ])
    cfg.defrost()
    seed_all_rng(cfg.SEED)
    Trainer(cfg).train()
    cfg.merge_from_list(["MODEL.WEIGHTS", str(root / "train" / "model_final.pth"), "DATASETS.TEST", (f"{prefix}_val",)])
    cfg.freeze()
    return cfg, toy_root / "train" / "images"
