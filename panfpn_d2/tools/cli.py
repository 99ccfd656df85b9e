"""What the command-line tools share: ``--config-file`` and ``--opts KEY VALUE ...``, read by
``panfpn_d2.config.load_config``."""
import argparse


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, metavar="FILE", help="a PanFPN config (.yaml)")
    parser.add_argument(
        "--opts",
        default=[],
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="config overrides, as KEY VALUE pairs (must come last)",
    )
