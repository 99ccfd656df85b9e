"""Small CPU configs: any config of configs/ shrunk to a tiny model, and the toy config on a tiny toy set."""
import hashlib
from pathlib import Path

from detectron2.data import DatasetCatalog

from panfpn_d2.config import load_config
from panfpn_d2.data.toy import generate_toy_dataset, register_toy_datasets

from .paths import CONFIGS, TOY_CONFIG

# Narrow FPN and heads, few ROIs: (key, value) pairs usable in-process and on train_net.py's command line.
SLIM_HEADS_OPTS = [
    ("MODEL.FPN.OUT_CHANNELS", 32),
    ("MODEL.SEM_SEG_HEAD.CONVS_DIM", 32),
    ("MODEL.ROI_BOX_HEAD.FC_DIM", 64),
    ("MODEL.ROI_MASK_HEAD.CONV_DIM", 16),
    ("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32),
    ("MODEL.RPN.POST_NMS_TOPK_TRAIN", 64),
]
# A GroupNorm ResNet-18 FPN that runs a training step in well under a second.
TINY_MODEL_OPTS = [
    ("MODEL.DEVICE", "cpu"),
    ("MODEL.WEIGHTS", ""),
    ("MODEL.RESNETS.DEPTH", 18),
    ("MODEL.RESNETS.RES2_OUT_CHANNELS", 64),
    ("MODEL.RESNETS.STEM_OUT_CHANNELS", 32),
    ("MODEL.RESNETS.NORM", "GN"),
    ("MODEL.FPN.NORM", "GN"),
    ("MODEL.RPN.POST_NMS_TOPK_TEST", 64),
    *SLIM_HEADS_OPTS,
]
# Overrides of TOY_CONFIG for a few-step training run.
TOY_TRAIN_OPTS = [
    ("DATASETS.TEST", ()),
    ("DATALOADER.NUM_WORKERS", 0),
    ("SOLVER.IMS_PER_BATCH", 1),
    ("SOLVER.WARMUP_ITERS", 2),
    ("SOLVER.STEPS", (2,)),  # MAX_ITER must exceed it
    ("INPUT.MIN_SIZE_TRAIN", (64,)),
    ("INPUT.MAX_SIZE_TRAIN", 64),
    *SLIM_HEADS_OPTS,
]


def command_line_opts(pairs):
    """``KEY VALUE ...`` arguments of (key, value) pairs, as strings: train_net.py's command line, and
    load_config's ``opts`` (which parses them as the command line does)."""
    return [str(item) for pair in pairs for item in pair]


def tiny_cfg(config_file="Base-PanFPN.yaml", *opts):
    """A config from configs/ with the tiny model and no datasets, then ``opts``; not frozen."""
    cfg = load_config(
        str(CONFIGS / config_file), [*command_line_opts(TINY_MODEL_OPTS), "DATASETS.TRAIN", (), "DATASETS.TEST", (), *opts]
    )
    cfg.defrost()
    return cfg


def make_toy_root(path: Path) -> Path:
    """A toy dataset of 4 training images of 64x64 px (generated in well under a second)."""
    return generate_toy_dataset(path, num_train=4, num_val=1, size=64)


def toy_cfg(root: Path, output_dir: Path, *opts):
    """The toy config training on the toy dataset at ``root`` (registered here under its own name); not frozen."""
    prefix = "test_toy_" + hashlib.sha1(str(root).encode()).hexdigest()[:10]
    if f"{prefix}_train" not in DatasetCatalog:
        register_toy_datasets(root, name_prefix=prefix)
    cfg = load_config(
        str(TOY_CONFIG),
        [*command_line_opts(TOY_TRAIN_OPTS), "DATASETS.TRAIN", (f"{prefix}_train",), "OUTPUT_DIR", str(output_dir), *opts],
    )
    cfg.defrost()
    return cfg


def r50_cfg(meta_arch, head):
    """The R50-FPN of detectron2's COCO Panoptic FPN (its model zoo's shapes), as ``meta_arch`` with
    the semantic head ``head``: the parity tests build detectron2's and ours from it."""
    cfg = tiny_cfg(
        "COCO-PanopticSegmentation/panfpn_R_50_1x.yaml",
        "MODEL.RESNETS.DEPTH", 50,
        "MODEL.RESNETS.RES2_OUT_CHANNELS", 256,
        "MODEL.RESNETS.STEM_OUT_CHANNELS", 64,
        "MODEL.RESNETS.NORM", "FrozenBN",
        "MODEL.FPN.NORM", "",
        "MODEL.FPN.OUT_CHANNELS", 256,
        "MODEL.SEM_SEG_HEAD.CONVS_DIM", 128,
        "MODEL.ROI_BOX_HEAD.FC_DIM", 1024,
        "MODEL.ROI_MASK_HEAD.CONV_DIM", 256,
        "MODEL.RPN.POST_NMS_TOPK_TEST", 1000,
        "MODEL.META_ARCHITECTURE", meta_arch,
        "MODEL.SEM_SEG_HEAD.NAME", head,
    )
    return cfg
