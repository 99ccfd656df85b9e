"""The GPU path in one run (under 5 minutes on one CUDA GPU): PanFPN against detectron2's PanopticFPN.

    python benchmarks/gpu_check.py [--device cuda] [--repeats 10] [--quick]

Prints, each with both sides, their ratio and the output agreement:
  1. the panoptic merge on device inputs (bench_merge.py's 100 instances on 800x1216): panfpn_d2's
     against detectron2's ``combine_semantic_and_instance_outputs``, outputs identical;
  2. one training step (forward, backward, SGD step at learning rate 0) of both models on the same
     weights (bench_vs_detectron2.py's random detecting weights) and batch, with the same seed: the
     losses equal within float tolerance, in float32 and under AMP (``torch.autocast``: float16 on
     CUDA with a GradScaler, bfloat16 on the CPU);
  3. inference, ms per image at COCO's test size (800/1333) on the COCO sample photos, for
     detectron2, PanFPN and PanFPN with ``MODEL.PANFPN.OUTPUTS ("panoptic_seg",)`` (weights scaled so
     that a fifth of the 100 detections score >= 0.5, as a trained COCO model's), panoptic maps compared.
Every part runs on ``--device``; ``--device cpu --quick`` (bench_vs_detectron2's tiny model, small
images, one repeat) checks the script end to end without a GPU.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from detectron2.modeling.meta_arch.panoptic_fpn import combine_semantic_and_instance_outputs as detectron2_merge
from detectron2.utils.events import EventStorage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_merge  # noqa: E402
from bench_panoptic_only import PANOPTIC_ONLY_OPTS, agreement  # noqa: E402
from bench_vs_detectron2 import (  # noqa: E402
    COMMON_OPTS, DEFAULT_CONFIG, QUICK_OPTS, SIDES, add_training_targets, build_models, load_images,
)
from common import machine_header  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

from panfpn_d2.modeling.panoptic_merge import combine_semantic_and_instance_outputs  # noqa: E402
from panfpn_d2.config import load_config  # noqa: E402
from tests.support.random_weights import calibrate_detection_scores  # noqa: E402

# Loss agreement: float32 sums in a different order may differ in the last bits; AMP rounds to 8-11 bits.
LOSS_RTOL = {"float32": 1e-4, "amp": 2e-2}


def synchronizer(device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(function, synchronize):
    synchronize()
    start = time.perf_counter()
    result = function()
    synchronize()
    return time.perf_counter() - start, result


def check_merge(device, size, repeats):
    instances, semantic = bench_merge.make_inputs(100, *size, 54, seed=0)
    instances, semantic = instances.to(device), semantic.to(device)
    merge_args = (instances, semantic, bench_merge.OVERLAP_THRESH, bench_merge.STUFF_AREA_LIMIT,
                  bench_merge.INSTANCES_CONFIDENCE_THRESH)
    synchronize = synchronizer(device)
    seconds = {"detectron2": [], "panfpn_d2": []}
    outputs = {}
    for repeat in range(repeats + 1):  # the first run of each warms up
        for side, merge in (("detectron2", detectron2_merge), ("panfpn_d2", combine_semantic_and_instance_outputs)):
            elapsed, outputs[side] = timed(lambda: merge(*merge_args), synchronize)
            if repeat:
                seconds[side].append(elapsed)
    (theirs_map, theirs_segments), (ours_map, ours_segments) = outputs["detectron2"], outputs["panfpn_d2"]
    identical = torch.equal(theirs_map, ours_map) and theirs_segments == ours_segments
    d2, ours = (statistics.median(seconds[side]) for side in SIDES)
    print(f"merge ({tuple(semantic.shape)}, 100 instances, {device}): detectron2 {d2 * 1e3:.2f} ms, panfpn_d2 "
          f"{ours * 1e3:.2f} ms, speed-up {d2 / ours:.1f}x; outputs {'identical' if identical else 'DIFFER'}")
    return identical


def training_step(model, optimizer, batch, seed, amp, scaler, device):
    """(losses as floats, seconds) of one step under the given seed."""
    synchronize = synchronizer(device)
    torch.manual_seed(seed)

    def step():
        with torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16,
                            enabled=amp):
            losses = model(batch)
        optimizer.zero_grad()
        total = sum(losses.values())
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            total.backward()
            optimizer.step()
        return {name: value.item() for name, value in losses.items()}

    return timed(step, synchronize)[::-1]


def check_training(models, batch, device, repeats):
    agree = True
    for precision in ("float32", "amp"):
        amp = precision == "amp"
        seconds = {side: [] for side in SIDES}
        losses = {}
        for side in SIDES:
            models[side].train()
        with EventStorage(0):
            for side in SIDES:
                # Learning rate 0: the usual work, the same weights for every step and both models.
                optimizer = torch.optim.SGD(models[side].parameters(), lr=0.0, momentum=0.9)
                scaler = torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
                for repeat in range(repeats + 1):  # the first step warms up
                    losses[side], elapsed = training_step(models[side], optimizer, batch, repeat, amp, scaler, device)
                    if repeat:
                        seconds[side].append(elapsed)
        for side in SIDES:
            models[side].eval()
        theirs, ours = losses["detectron2"], losses["panfpn_d2"]
        worst = max(abs(ours[k] - theirs[k]) / max(abs(theirs[k]), 1e-12) for k in theirs)
        equal = set(ours) == set(theirs) and worst <= LOSS_RTOL[precision]
        agree &= equal
        d2, panfpn = (statistics.median(seconds[side]) for side in SIDES)
        print(f"training step, {precision}, batch of {len(batch)}: detectron2 {d2 * 1e3:.1f} ms, panfpn_d2 "
              f"{panfpn * 1e3:.1f} ms, ratio (panfpn_d2 / detectron2) {panfpn / d2:.3f}; losses "
              f"{'equal' if equal else 'DIFFER'} (largest relative difference {worst:.2e}, tolerance "
              f"{LOSS_RTOL[precision]:.0e}; total {sum(theirs.values()):.4f} vs {sum(ours.values()):.4f})")
    return agree


def check_inference(models, inputs, device, repeats):
    synchronize = synchronizer(device)
    sides = tuple(models)
    seconds = {side: [] for side in sides}
    outputs = {side: [] for side in sides}
    with torch.no_grad():
        for repeat in range(repeats + 1):  # the first pass warms up and gives the outputs compared
            for index, model_input in enumerate(inputs):
                order = sides if (repeat + index) % 2 == 0 else sides[::-1]
                for side in order:
                    elapsed, (output,) = timed(lambda: models[side]([model_input]), synchronize)
                    if repeat:
                        seconds[side].append(elapsed)
                    else:
                        outputs[side].append(output)
    milliseconds = {side: statistics.median(seconds[side]) * 1e3 for side in sides}
    agree = True
    for side in sides[1:]:
        differing = [agreement(expected, actual) for expected, actual in zip(outputs["detectron2"], outputs[side])]
        identical = all(fraction == 0 and same for fraction, same in differing)
        agree &= identical
        worst = max(fraction for fraction, _ in differing)
        print(f"inference, {side}: {milliseconds[side]:.1f} ms per image vs detectron2 "
              f"{milliseconds['detectron2']:.1f} ms, speed-up {milliseconds['detectron2'] / milliseconds[side]:.2f}x; "
              f"panoptic output " + ("identical" if identical else f"differs ({worst:.5%} of pixels at most)"))
    return agree


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--config-file", default=str(DEFAULT_CONFIG))
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each part (after one warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny model, small images, one repeat (a smoke test)")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available on this machine "
                         "(run on a CUDA GPU, or check the script with --device cpu --quick)")
    opts = ["MODEL.DEVICE", str(device)]
    short_side, max_size, merge_size = 800, 1333, (800, 1216)
    if args.quick:
        opts = QUICK_OPTS + ["MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.5] + opts
        short_side, max_size, merge_size, args.repeats = 128, 213, (200, 304), 1
    gpu = f"GPU {torch.cuda.get_device_name(device)}; " if device.type == "cuda" else ""
    print(machine_header())
    print(f"{gpu}torch {torch.__version__}; "
          f"device {device}; median of {args.repeats} timed runs")

    agree = check_merge(device, merge_size, args.repeats)

    models = build_models(args.config_file, opts, args.seed)
    panoptic_only = build_model(load_config(args.config_file, [*COMMON_OPTS, *opts, *PANOPTIC_ONLY_OPTS]))
    models = {side: model.to(device) for side, model in models.items()}
    inputs = load_images(short_side, max_size, 0, args.seed)
    cfg = load_config(args.config_file, [*COMMON_OPTS, *opts])
    batch = add_training_targets(inputs, cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, args.seed)
    agree &= check_training(models, batch, device, args.repeats)

    threshold = models["panfpn_d2"].merge_settings.instances_confidence_thresh
    reached = calibrate_detection_scores(models["detectron2"], inputs, 0.2, threshold)
    print(f"inference weights: class weights scaled so that {reached:.1%} of the detections score >= {threshold}")
    for model in (models["panfpn_d2"], panoptic_only):
        model.load_state_dict(models["detectron2"].state_dict())
    models["panfpn_d2 OUTPUTS (panoptic_seg,)"] = panoptic_only.to(device).eval()
    agree &= check_inference(models, inputs, device, args.repeats)
    if not agree:
        raise SystemExit("outputs or losses disagree with detectron2's (see above)")


if __name__ == "__main__":
    main()
