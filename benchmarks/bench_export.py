"""Time the ONNX Runtime predictor (panfpn-predict's) against eager PyTorch PanFPN on the CPU.

    python benchmarks/bench_export.py [--config-file C] [--short-side 800] [--max-size 1333]
        [--generated-images 2] [--repeats 3] [--threads 2] [--quick] [--opts KEY VALUE ...]

One model (the config's R50-FPN by default, random weights made to detect ~40-100 instances
with distinct scores) is exported to ONNX and run on the same images both ways, end to end
from the decoded image to the panoptic map: resize, network, postprocessing, merge. Eager is
detectron2's DefaultPredictor (torch with --threads threads); the runtime is
``panfpn_lite.runtime`` (ONNX Runtime with --threads intra-op threads, numpy). Images: the COCO
sample's two photos and generated toy scenes. Timed interleaved, one warm-up pass first; the
per-image medians, their sums, the ratio eager / runtime (above 1: the runtime is faster) and
the share of pixels whose segment has the same category in both panoptic maps are printed.
``--quick``: a tiny GroupNorm ResNet-18 FPN at a 128-pixel short side, 1 repeat (a smoke test).
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vs_detectron2 import GENERATED_IMAGE_SIZE, QUICK_OPTS, SAMPLE_IMAGES, benchmark_parser  # noqa: E402
from common import machine_header  # noqa: E402

from panfpn_d2.data.toy import render_toy_image  # noqa: E402
from tests.support.inference_paths import eager_predictor  # noqa: E402
from tests.support.panoptic_agreement import category_agreement  # noqa: E402
from panfpn_d2.config import load_config  # noqa: E402
from panfpn_d2.tools.export import export_model  # noqa: E402
from panfpn_d2.tools.random_weights import make_random_model_detect  # noqa: E402
from panfpn_lite.runtime.model import OnnxPanFPN  # noqa: E402
from panfpn_lite.runtime.predict import PanopticPredictor  # noqa: E402

SIDES = ("eager", "onnxruntime")


def build_predictors(cfg, work_dir: Path, threads: int, seed: int):
    """{side: image -> (id map, segments)} for one set of random detecting weights."""
    torch.manual_seed(seed)
    model = make_random_model_detect(build_model(cfg), class_weight_std=1e-4)
    DetectionCheckpointer(model, save_dir=str(work_dir)).save("random_weights")
    export_model(cfg, "onnx", str(work_dir / "onnx"))
    runtime = PanopticPredictor(OnnxPanFPN(str(work_dir / "onnx"), num_threads=threads))
    return {"eager": eager_predictor(cfg), "onnxruntime": runtime.predict}


def load_images(num_generated: int, seed: int):
    """{name: BGR image at its original size}: the sample photos and generated scenes."""
    images = {path.name: read_image(str(path), format="BGR") for path in sorted(SAMPLE_IMAGES.glob("*.jpg"))}
    if not images:
        raise FileNotFoundError(f"{SAMPLE_IMAGES}: no .jpg sample images")
    rng = np.random.default_rng(seed)
    for k in range(num_generated):
        images[f"generated_{k}"] = np.ascontiguousarray(render_toy_image(rng, GENERATED_IMAGE_SIZE)[0][:, :, ::-1])
    return images


def time_predictors(predictors, images, repeats: int):
    """({side: {image: median seconds}}, {side: {image: last prediction}})."""
    seconds = {side: {name: [] for name in images} for side in SIDES}
    predictions = {side: {} for side in SIDES}
    for repeat in range(repeats + 1):  # the first pass warms up
        for k, (name, image) in enumerate(images.items()):
            # Alternating order: load from the other engineers' jobs hits both sides alike.
            for side in SIDES if (repeat + k) % 2 == 0 else SIDES[::-1]:
                start = time.perf_counter()
                predictions[side][name] = predictors[side](image)
                if repeat:
                    seconds[side][name].append(time.perf_counter() - start)
    medians = {side: {name: statistics.median(times) for name, times in by_image.items()} for side, by_image in seconds.items()}
    return medians, predictions


def get_parser():
    return benchmark_parser(
        __doc__, short_side=800, max_size=1333, repeats=3, threads_help="torch and ONNX Runtime threads"
    )


def config_overrides(args):
    """The config overrides of ``args``; with --quick also the smoke test's sizes, set on ``args``."""
    opts = list(args.opts)
    if args.quick:
        args.short_side, args.max_size, args.repeats, args.generated_images = 128, 213, 1, 1
        opts = QUICK_OPTS + opts
    return opts


def random_weights_cfg(args, opts, work_dir, *extra_opts):
    """The benchmarked config: CPU, the test size of ``args``, weights ``work_dir/random_weights.pth``."""
    return load_config(args.config_file, [
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", str(Path(work_dir) / "random_weights.pth"),
        "DATASETS.TRAIN", "()", "DATASETS.TEST", "('panfpn_coco_2017_val',)",
        "INPUT.MIN_SIZE_TEST", args.short_side, "INPUT.MAX_SIZE_TEST", args.max_size, *opts, *extra_opts,
    ])


def main(argv=None):
    args = get_parser().parse_args(argv)
    opts = config_overrides(args)
    torch.set_num_threads(args.threads)
    images = load_images(args.generated_images, args.seed)
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = random_weights_cfg(args, opts, work_dir)
        predictors = build_predictors(cfg, Path(work_dir), args.threads, args.seed)
        medians, predictions = time_predictors(predictors, images, args.repeats)

    print(machine_header())
    print(f"{args.threads} threads; torch {torch.__version__}; short side {args.short_side}, max {args.max_size}; "
          f"median of {args.repeats} repeats")
    print(f"{'image':<20} {'eager s':>9} {'onnxruntime s':>14} {'ratio':>7} {'agreement':>10} {'things':>7}")
    for name in images:
        eager_s, runtime_s = medians["eager"][name], medians["onnxruntime"][name]
        agreement = category_agreement(predictions["eager"][name], predictions["onnxruntime"][name])
        things = sum(s["isthing"] for s in predictions["eager"][name][1])
        print(f"{name:<20} {eager_s:>9.3f} {runtime_s:>14.3f} {eager_s / runtime_s:>7.2f} {agreement:>10.5f} {things:>7}")
    eager_total, runtime_total = (sum(medians[side].values()) for side in SIDES)
    print(f"{'total':<20} {eager_total:>9.3f} {runtime_total:>14.3f} {eager_total / runtime_total:>7.2f}")
    print(f"ONNX Runtime is {eager_total / runtime_total:.2f}x as fast as eager PyTorch (goal: >= 1.2x)")


if __name__ == "__main__":
    main()
