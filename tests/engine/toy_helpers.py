"""A toy training run small enough for the tests: a few 64 px toy images, a slim model, no evaluation."""
import hashlib
from pathlib import Path

import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog

from panfpn_d2 import add_panfpn_config
from panfpn_d2.data.toy import generate_toy_dataset, register_toy_datasets

from helpers import CONFIGS

TOY_CONFIG = CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.yaml"
# Overrides of TOY_CONFIG, as (key, value) pairs usable in-process and on train_net.py's command line.
TOY_TRAIN_OPTS = [
    ("DATASETS.TEST", ()),
    ("DATALOADER.NUM_WORKERS", 0),
    ("SOLVER.IMS_PER_BATCH", 1),
    ("SOLVER.WARMUP_ITERS", 2),
    ("SOLVER.STEPS", (2,)),  # MAX_ITER must exceed it
    ("INPUT.MIN_SIZE_TRAIN", (64,)),
    ("INPUT.MAX_SIZE_TRAIN", 64),
    ("MODEL.FPN.OUT_CHANNELS", 32),
    ("MODEL.SEM_SEG_HEAD.CONVS_DIM", 32),
    ("MODEL.ROI_BOX_HEAD.FC_DIM", 64),
    ("MODEL.ROI_MASK_HEAD.CONV_DIM", 16),
    ("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32),
    ("MODEL.RPN.POST_NMS_TOPK_TRAIN", 64),
]


def make_toy_root(path: Path) -> Path:
    """A toy dataset of 4 training images of 64x64 px (generated in well under a second)."""
    return generate_toy_dataset(path, num_train=4, num_val=1, size=64)


def command_line_opts(pairs):
    """``KEY VALUE ...`` arguments for train_net.py."""
    return [str(item) for pair in pairs for item in pair]


def toy_cfg(root: Path, output_dir: Path, *opts):
    """The toy config training on the toy dataset at ``root`` (registered here under its own name)."""
    prefix = "test_toy_" + hashlib.sha1(str(root).encode()).hexdigest()[:10]
    if f"{prefix}_train" not in DatasetCatalog:
        register_toy_datasets(root, name_prefix=prefix)
    cfg = get_cfg()
    add_panfpn_config(cfg)
    cfg.merge_from_file(str(TOY_CONFIG))
    cfg.merge_from_list([item for pair in TOY_TRAIN_OPTS for item in pair])
    cfg.merge_from_list(["DATASETS.TRAIN", (f"{prefix}_train",), "OUTPUT_DIR", str(output_dir), *opts])
    return cfg


def assert_same_state(actual, expected, where="state"):
    """Nested dicts / lists of tensors and plain values are exactly equal."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), f"{where}: keys differ"
        for key in expected:
            assert_same_state(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{where}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same_state(a, e, f"{where}[{index}]")
    elif isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(actual, expected), f"{where}: tensors differ"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
