"""Time panfpn_d2's panoptic merge against detectron2's on the same inputs.

    python benchmarks/bench_merge.py [--threads 1 2] [--device cpu|cuda] [--repeats 5]

The inputs imitate a COCO model's output: 100 instances whose masks are blobs in
random boxes of varied size (many overlapping) with scores spread over [0, 1], and a
blobby 54-class semantic map, on an 800x1216 image. Both functions must give
identical outputs; the script prints both times (best of the repeats) and the ratio.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F
from detectron2.modeling.meta_arch.panoptic_fpn import (
    combine_semantic_and_instance_outputs as detectron2_merge,
)
from detectron2.structures import Boxes, Instances

from common import machine_header
from panfpn_d2.modeling.panoptic_merge import combine_semantic_and_instance_outputs

# detectron2's COCO defaults (MODEL.PANOPTIC_FPN.COMBINE.*).
OVERLAP_THRESH = 0.5
STUFF_AREA_LIMIT = 4096
INSTANCES_CONFIDENCE_THRESH = 0.5


def make_inputs(num_instances, height, width, num_semantic_classes, seed):
    generator = torch.Generator().manual_seed(seed)

    def uniform(low, high):
        return low + (high - low) * torch.rand((), generator=generator).item()

    masks = torch.zeros(num_instances, height, width, dtype=torch.bool)
    boxes = torch.zeros(num_instances, 4)
    for i in range(num_instances):
        # Log-uniform box sides, 24 px to half the image, so small and large objects mix.
        box_h = int(math.exp(uniform(math.log(24), math.log(height / 2))))
        box_w = int(math.exp(uniform(math.log(24), math.log(width / 2))))
        y0 = int(uniform(0, height - box_h))
        x0 = int(uniform(0, width - box_w))
        # A 28x28 mask-head-like probability map: a centred ellipse plus smooth noise,
        # upsampled to the box and thresholded, as detector_postprocess pastes masks.
        grid = torch.linspace(-1, 1, 28)
        ellipse = 1.5 - 2.0 * (grid[:, None] ** 2 + grid[None, :] ** 2)
        coarse_noise = torch.randn(1, 1, 7, 7, generator=generator)
        noise = F.interpolate(coarse_noise, size=(28, 28), mode="bilinear")
        logits = F.interpolate(ellipse + noise, size=(box_h, box_w), mode="bilinear")
        masks[i, y0 : y0 + box_h, x0 : x0 + box_w] = logits[0, 0] > 0
        boxes[i] = torch.tensor([x0, y0, x0 + box_w, y0 + box_h])

    instances = Instances((height, width))
    instances.pred_boxes = Boxes(boxes)
    instances.scores = torch.rand(num_instances, generator=generator)
    instances.pred_classes = torch.randint(0, 80, (num_instances,), generator=generator)
    instances.pred_masks = masks

    # Blobby semantic regions: argmax of smooth low-resolution logits, upsampled 4x
    # as the semantic head's output is.
    low_res = torch.randn(1, num_semantic_classes, height // 32, width // 32, generator=generator)
    quarter = F.interpolate(low_res, size=(height // 4, width // 4), mode="bilinear")
    semantic = F.interpolate(quarter, size=(height, width), mode="bilinear")[0].argmax(dim=0)
    return instances, semantic


def best_time(function, repeats, synchronize):
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        result = function()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="torch.set_num_threads values"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per function; the best is reported"
    )
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")

    instances, semantic = make_inputs(args.instances, 800, 1216, 54, args.seed)
    instances = instances.to(args.device)
    semantic = semantic.to(args.device)
    synchronize = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    merge_args = (
        instances, semantic, OVERLAP_THRESH, STUFF_AREA_LIMIT, INSTANCES_CONFIDENCE_THRESH
    )

    print(machine_header())
    print(f"torch {torch.__version__}")
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    print(
        f"inputs: {args.instances} instances, image {tuple(semantic.shape)}, 54 semantic classes, "
        f"seed {args.seed}, device {args.device}, best of {args.repeats}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        combine_semantic_and_instance_outputs(*merge_args)  # warm-up
        ours_s, (ours_map, ours_segments) = best_time(
            lambda: combine_semantic_and_instance_outputs(*merge_args), args.repeats, synchronize
        )
        theirs_s, (theirs_map, theirs_segments) = best_time(
            lambda: detectron2_merge(*merge_args), args.repeats, synchronize
        )
        identical = (
            torch.equal(ours_map, theirs_map)
            and ours_segments == theirs_segments
            and [list(s) for s in ours_segments] == [list(s) for s in theirs_segments]
        )
        if not identical:
            raise SystemExit("outputs differ from detectron2's")
        num_things = sum(segment["isthing"] for segment in ours_segments)
        print(
            f"threads={threads}: detectron2 {theirs_s * 1e3:.1f} ms, "
            f"panfpn_d2 {ours_s * 1e3:.1f} ms, "
            f"ratio {theirs_s / ours_s:.1f}x; outputs identical "
            f"({num_things} things, {len(ours_segments) - num_things} stuff segments)"
        )


if __name__ == "__main__":
    main()
