#!/usr/bin/env python
"""Register your own COCO-panoptic dataset, train Panoptic FPN on it and evaluate it.

    python examples/train_custom_dataset.py \\
        --train my/panoptic_train.json my/panoptic_train my/images_train \\
        --val my/panoptic_val.json my/panoptic_val my/images_val \\
        --config-file COCO-PanopticSegmentation/panfpn_R_50_1x.yaml \\
        --output-dir output/my_run [KEY VALUE ...]

Each split is a COCO panoptic JSON, its PNG folder and its image folder: what
`panfpn-data convert` writes from other layouts, and what `panfpn-data check` checks
(docs/datasets.md). The splits are registered as `custom_train` and `custom_val`, the class counts
are set from their categories (``--configure-for-dataset``), and the config's own
`MODEL.WEIGHTS` (ImageNet for the shipped configs) starts training unless KEY VALUE pairs say
otherwise (e.g. `MODEL.WEIGHTS ""` from scratch, `SOLVER.MAX_ITER 2000`, `MODEL.DEVICE cpu`).
The model is evaluated on `custom_val` at the end; the metrics are logged and written to
OUTPUT_DIR/metrics.json. One process: registration happens in this script, so a multi-process
run would register the splits in each process (see docs/training_evaluation.md).
"""
import argparse

from panfpn_d2.data import register_panoptic_dataset
from panfpn_d2.tools import train_net

SPLITS = ("train", "val")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for split in SPLITS:
        parser.add_argument(
            f"--{split}", nargs=3, required=True, metavar=("JSON", "PNG_DIR", "IMAGE_DIR"),
            help=f"the {split} split: COCO panoptic JSON, its PNG folder, its image folder",
        )
    parser.add_argument("--config-file", default="COCO-PanopticSegmentation/panfpn_R_50_1x.yaml",
                        help="a YAML config file, or the name of a shipped one")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for split in SPLITS:
        json_file, png_dir, image_dir = getattr(args, split)
        register_panoptic_dataset(f"custom_{split}", json_file, image_dir, png_dir)
    train_args = train_net.argument_parser().parse_args(
        ["--config-file", args.config_file, "--configure-for-dataset",
         "DATASETS.TRAIN", "('custom_train',)", "DATASETS.TEST", "('custom_val',)",
         "OUTPUT_DIR", args.output_dir, *args.opts]
    )
    train_args.config_file = train_net.config_path(train_args.config_file)
    return train_net.main(train_args)


if __name__ == "__main__":
    main()
