"""What the command-line tools share: the config from ``--config-file`` and ``--opts KEY VALUE ...``."""
import argparse
import logging
import os

import torch
from detectron2.config import get_cfg

from ..config import add_panfpn_config

logger = logging.getLogger(__name__)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, metavar="FILE", help="a PanFPN config (.yaml)")
    parser.add_argument(
        "--opts",
        default=[],
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="config overrides, as KEY VALUE pairs (must come last)",
    )


def load_config(config_file: str, opts=()):
    """The frozen config of ``config_file`` with the ``KEY VALUE`` overrides in ``opts``.

    Unlike ``panfpn_d2.engine.setup_cfg`` this has no side effect on logging or the output
    directory (no ``default_setup``); like it, it turns oneDNN convolutions off on the CPU,
    where the ROI heads' varying batch shapes make oneDNN re-plan its kernels at every call.
    """
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"--config-file {config_file!r}: no such file")
    if len(opts) % 2:
        raise ValueError(f"--opts takes KEY VALUE pairs, got an odd number of items: {list(opts)}")
    cfg = get_cfg()
    add_panfpn_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    if cfg.MODEL.DEVICE == "cpu" and torch.backends.mkldnn.enabled:
        torch.backends.mkldnn.enabled = False
        logger.info("oneDNN convolutions disabled on the CPU (varying ROI batch shapes)")
    return cfg
