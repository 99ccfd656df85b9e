"""Panoptic-only inference (MODEL.PANFPN.OUTPUTS ("panoptic_seg",)) against detectron2's PanopticFPN.

    python benchmarks/bench_panoptic_only.py [--short-side 800] [--max-size 1333] [--repeats 3]
        [--threads 2] [--quick] [--opts KEY VALUE ...]

Same machinery as bench_vs_detectron2.py: detectron2's model from the same config with random
weights made to detect, its state_dict loaded into PanFPN. The class weights are then scaled
(``calibrate_detection_scores``) so that, as with a trained COCO model, each image keeps 100
detections of which about a fifth score 0.5 or more: detectron2 runs its mask head and pastes
masks for all 100, PanFPN only for those the merge can paste. Images: the COCO sample's two
photos at COCO's test size (800/1333). The first pass checks the panoptic outputs agree (maps
identical, or the fraction of differing pixels; segments identical); then the timed passes,
interleaved (A/B, B/A) so that noise on shared cores hits both sides alike, medians reported.
``--quick``: bench_vs_detectron2's tiny model at a 128-pixel short side, 1 repeat (a smoke test).
"""
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vs_detectron2 import (  # noqa: E402
    QUICK_OPTS, SIDES, benchmark_parser, build_models, load_images, time_inference,
)
from common import machine_header  # noqa: E402

from tests.support.random_weights import calibrate_detection_scores  # noqa: E402

PANOPTIC_ONLY_OPTS = ["MODEL.PANFPN.OUTPUTS", "('panoptic_seg',)"]
TIMED_MODULES = {"backbone": "backbone", "semantic head": "sem_seg_head", "mask head": "roi_heads.mask_head"}
COMPONENTS = (*TIMED_MODULES, "merge")


def agreement(expected, actual):
    """(fraction of pixels whose segment differs, whether the segments are identical)."""
    expected_map, expected_segments = expected["panoptic_seg"]
    actual_map, actual_segments = actual["panoptic_seg"]
    return (actual_map != expected_map).double().mean().item(), actual_segments == expected_segments


def get_parser():
    parser = benchmark_parser(__doc__, short_side=800, max_size=1333, repeats=3, threads_help="torch.set_num_threads")
    parser.set_defaults(generated_images=0)  # the COCO photos only: the score spread is a COCO model's
    parser.add_argument("--confident-fraction", type=float, default=0.2,
                        help="the share of detections made to score >= 0.5")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    opts = list(args.opts)
    if args.quick:
        # the tiny model's pasting threshold is 0 (QUICK_OPTS); restore COCO's 0.5 so that filtering matters
        opts = QUICK_OPTS + ["MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.5] + opts
        args.short_side, args.max_size, args.repeats = 128, 213, 1
    torch.set_num_threads(args.threads)
    models = build_models(args.config_file, [*opts, *PANOPTIC_ONLY_OPTS], args.seed)
    inputs = load_images(args.short_side, args.max_size, args.generated_images, args.seed)
    threshold = models["panfpn_d2"].merge_settings.instances_confidence_thresh
    reached = calibrate_detection_scores(models["detectron2"], inputs, args.confident_fraction, threshold)
    models["panfpn_d2"].load_state_dict(models["detectron2"].state_dict())

    print(machine_header())
    print(f"torch {torch.__version__} ({args.threads} threads), "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '(default)')}")
    print(f"config: {args.config_file} {' '.join(map(str, opts))}; panfpn_d2: {' '.join(PANOPTIC_ONLY_OPTS)}")
    print(f"images: {len(inputs)} (COCO sample photos, then generated), model input "
          + ", ".join(f"{tuple(x['image'].shape[1:])}" for x in inputs) + "; merge at the original size")
    print(f"weights: random, made to detect, class weights scaled so that {reached:.1%} of the detections "
          f"score >= {threshold}")
    with torch.no_grad():  # a warm-up pass, whose outputs are compared
        outputs = {side: [models[side]([model_input])[0] for model_input in inputs] for side in SIDES}
    passes = time_inference(models, inputs, args.repeats, TIMED_MODULES)
    for index, (expected, actual) in enumerate(zip(outputs["detectron2"], outputs["panfpn_d2"])):
        scores = expected["instances"].scores
        differing, same_segments = agreement(expected, actual)
        verdict = "identical" if differing == 0 and same_segments else (
            f"{differing:.5%} of pixels differ, segments {'identical' if same_segments else 'differ'}")
        print(f"image {index}: {len(scores)} detections, {int((scores >= threshold).sum())} >= {threshold}; "
              f"panoptic output vs detectron2: {verdict}")

    print(f"\ninference, ms per image (mean over the {len(inputs)} images, median of {args.repeats} passes):")
    for name in ("total", *COMPONENTS):
        d2, ours = (statistics.median(passes[side][name]) / len(inputs) for side in SIDES)
        print(f"{name:<14} detectron2 {d2 * 1e3:9.1f} ms   panfpn_d2 (panoptic only) {ours * 1e3:9.1f} ms   "
              f"speed-up (detectron2 / panfpn_d2) {d2 / ours if ours else float('inf'):.2f}")


if __name__ == "__main__":
    main()
