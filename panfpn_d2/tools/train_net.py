"""Train or evaluate Panoptic FPN: ``python -m panfpn_d2.tools.train_net --config-file CONFIG
[--eval-only] [KEY VALUE ...]``, or with a LazyConfig ``.py`` file and ``key=value`` overrides.

CONFIG is a file, or the name of a shipped config (``panfpn_d2.model_zoo``), e.g.
``COCO-PanopticSegmentation/panfpn_R_50_1x.yaml``. detectron2's launcher flags (``--num-gpus``,
``--num-machines``, ``--machine-rank``, ``--dist-url``) start the processes of a distributed run
(on machines without CUDA too: a gloo group, one process per ``--num-gpus``). ``--configure-for-dataset``
sets the class counts from DATASETS.TRAIN[0]'s categories (``panfpn_d2.config.configure_for_dataset``).
"""
import logging
import os

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser

from ..engine import Trainer, lazy, setup_cfg, tta_comparison
from ..engine.launch import launch
from ..model_zoo import get_config_file


def main(args):
    """One process's work: train (``--resume``), or evaluate MODEL.WEIGHTS (``--eval-only``)."""
    if args.config_file.endswith(".py"):
        if args.configure_for_dataset:
            raise ValueError(
                f"--configure-for-dataset takes a YAML config; {args.config_file} is a LazyConfig: set its "
                "class counts with key=value overrides"
            )
        return lazy.main(args)
    cfg = setup_cfg(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        if cfg.TEST.AUG.ENABLED:
            results.update(Trainer.test_with_TTA(cfg, model))
            logging.getLogger("panfpn_d2").info("Test-time augmentation:\n" + tta_comparison(results))
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def argument_parser():
    """detectron2's train_net arguments, and ``--configure-for-dataset``."""
    parser = default_argument_parser()
    parser.add_argument(
        "--configure-for-dataset", action="store_true",
        help="set MODEL.ROI_HEADS.NUM_CLASSES and MODEL.SEM_SEG_HEAD.NUM_CLASSES from the categories of "
        "DATASETS.TRAIN[0] (YAML configs)",
    )
    return parser


def config_path(config_file: str) -> str:
    """``config_file`` if it is a file, else the shipped config of that name."""
    return config_file if os.path.isfile(config_file) else get_config_file(config_file)


def cli(argv=None):
    """Parse the command line, find the config, and run :func:`main` in every process of the run."""
    args = argument_parser().parse_args(argv)
    args.config_file = config_path(args.config_file)
    return launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    cli()
