"""Merge tuning (27 settings) against one evaluation, on the toy's val split.

    python benchmarks/bench_tune_merge.py [--num-val 100] [--iters 12] [--weights W] [--threads 2]

Without ``--weights`` a toy model is trained for ``--iters`` iterations first (the tests' trained
toy: 4 training images, the slim heads; not timed). Both sides start from the config and the
checkpoint: one evaluation is building the model and detectron2's ``inference_on_dataset`` with the
panoptic evaluator; tuning is ``tune_merge`` over the default grid around the toy config's merge
(0.3 0.5 0.7 x 32 64 128 x 0.2 0.4 0.6), whose time is split into the network pass (model
build, inference, writing the raw outputs), reading them back, the merges (+ the evaluator's
encoding of each map) and PQ. Prints both times and their ratio.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_header  # noqa: E402

from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.evaluation import inference_on_dataset  # noqa: E402
from detectron2.utils.env import seed_all_rng  # noqa: E402

from panfpn_d2.data.toy import generate_toy_dataset  # noqa: E402
from panfpn_d2.engine import Trainer  # noqa: E402
from panfpn_d2.evaluation.panoptic_evaluation import PanFPNPanopticEvaluator  # noqa: E402
from panfpn_d2.tools.tune_merge import quiet_evaluator, tune_merge  # noqa: E402
from tests.support.configs import toy_cfg  # noqa: E402


def one_evaluation(cfg) -> float:
    start = time.perf_counter()
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    name = cfg.DATASETS.TEST[0]
    with quiet_evaluator():
        inference_on_dataset(model, Trainer.build_test_loader(cfg, name), PanFPNPanopticEvaluator(name, distributed=False))
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-val", type=int, default=100, help="val images (the toy's val split has 100)")
    parser.add_argument("--iters", type=int, default=12, help="training iterations when no --weights")
    parser.add_argument("--weights", default="", help="a trained toy checkpoint (the slim-head toy of tests.support)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        root = generate_toy_dataset(Path(folder) / "toy", num_train=4, num_val=args.num_val, size=128)
        cfg = toy_cfg(root, Path(folder) / "train", "SEED", 3, "SOLVER.MAX_ITER", max(args.iters, 3),
                      "SOLVER.STEPS", (max(args.iters, 3) - 1,), "SOLVER.CHECKPOINT_PERIOD", 100000)
        weights = args.weights
        if not weights:
            seed_all_rng(cfg.SEED)
            Trainer(cfg).train()
            weights = str(Path(folder) / "train" / "model_final.pth")
        cfg.merge_from_list(["MODEL.WEIGHTS", weights, "DATASETS.TEST", (cfg.DATASETS.TRAIN[0].replace("_train", "_val"),)])
        cfg.freeze()

        evaluation_seconds = one_evaluation(cfg)
        start = time.perf_counter()
        summary = tune_merge(cfg, str(Path(folder) / "tune"))
        tuning_seconds = time.perf_counter() - start

    print(machine_header())
    print(f"toy val: {summary['images']} images of 128x128; {len(summary['settings'])} settings; "
          f"{'--weights ' + args.weights if args.weights else f'toy trained {args.iters} iterations'}")
    print(f"one evaluation          {evaluation_seconds:8.2f} s")
    print(f"tuning, {len(summary['settings'])} settings     {tuning_seconds:8.2f} s   "
          f"ratio {tuning_seconds / evaluation_seconds:.2f}")
    for part, seconds in summary["seconds"].items():
        print(f"  {part:<20}  {seconds:8.2f} s")


if __name__ == "__main__":
    main()
