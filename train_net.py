#!/usr/bin/env python
"""Train or evaluate Panoptic FPN from a clone: ``python train_net.py --config-file CONFIG [--eval-only]
[KEY VALUE ...]``. The same as ``python -m panfpn_d2.tools.train_net`` (see there)."""
from panfpn_d2.tools.train_net import cli

if __name__ == "__main__":
    cli()
