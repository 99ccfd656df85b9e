#!/usr/bin/env python
"""Train or evaluate Panoptic FPN: ``python train_net.py --config-file CONFIG [--eval-only] [KEY VALUE ...]``,
or with a LazyConfig ``.py`` file and ``key=value`` overrides."""
import logging

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser, launch

from panfpn_d2.engine import Trainer, lazy, setup_cfg, tta_comparison


def main(args):
    if args.config_file.endswith(".py"):
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


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
