"""What the command-line tools share: the config from ``--config-file`` and ``--opts KEY VALUE ...``."""
import argparse
import os

from detectron2.config import get_cfg

from ..config import add_panfpn_config


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
    directory (no ``default_setup``).
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
    return cfg
