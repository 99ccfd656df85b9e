"""One table of inference paths on the CPU against detectron2's eager fp32, with the model's FLOPs
and the share of the CPU's peak each path reaches.

    python benchmarks/bench_backends.py [--config-file C] [--short-side 800] [--max-size 1333]
        [--generated-images 2] [--repeats 2] [--threads 2] [--quick] [--opts KEY VALUE ...]

Paths, each end to end from the decoded image to the panoptic map: detectron2's PanopticFPN
(DefaultPredictor) fp32, PanFPN (DefaultPredictor) fp32, fp32 panoptic-only (MODEL.PANFPN.OUTPUTS)
and bf16 (MODEL.PANFPN.INFERENCE_PRECISION), and ``panfpn-predict``'s predictor on ONNX Runtime and
OpenVINO in fp32, bf16 and int8 on the panoptic-only export (int8: ``--quantize int8``, calibrated on
the benchmark's own images), each where this CPU,
backend and model file run it (``panfpn_lite.runtime.precision``; the others are listed with the
reason they are left out). One model, random weights made to detect with distinct scores, both eager models with the
same state_dict. Images: the COCO sample's two photos and generated toy scenes. Timed
interleaved (the order rotates each image, so load from other jobs hits every path), one
warm-up pass first; s/image is the mean over the images of each image's median.

Columns: ratio = detectron2 eager fp32 s / path s (above 1: faster); agreement = share of pixels
in a segment of the same category as detectron2 eager fp32's map, over all images; GFLOP/s =
2 x the model's multiply-adds (fvcore's count, ``panfpn_d2.tools.analysis``, of PanFPN's
inference at each image's input size) / s; % peak = GFLOP/s over threads x clock x FLOPs per
cycle per core of the ISA the precision runs on (see ``peak_flops_per_cycle``). The clock is
/proc/cpuinfo's ``cpu MHz`` (the current clock, not the turbo maximum).
``--quick``: a tiny GroupNorm ResNet-18 FPN at a 128-pixel short side, 1 repeat (a smoke test).
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.data import transforms as T
from detectron2.modeling import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_export import config_overrides, load_images, random_weights_cfg  # noqa: E402
from common import machine_header  # noqa: E402
from bench_vs_detectron2 import DETECTRON2_OPTS, benchmark_parser  # noqa: E402

from tests.support.inference_paths import (  # noqa: E402
    EAGER_FP32, compare_every_path, eager_paths, eager_predictor, panoptic_only, runtime_paths,
)
from tests.support.panoptic_agreement import category_agreement  # noqa: E402
from tests.support.paths import TOY_CONFIG  # noqa: E402
from tests.support.trained_toy import train_quickstart_toy  # noqa: E402
from panfpn_d2.config import load_config  # noqa: E402
from panfpn_d2.deploy import PanFPNExportGraph  # noqa: E402
from panfpn_d2.tools.analysis import InferenceOnTensor, count  # noqa: E402
from panfpn_d2.tools.random_weights import make_random_model_detect  # noqa: E402
from panfpn_lite.runtime.model import BACKEND_CLASSES  # noqa: E402
from panfpn_lite.runtime.precision import BF16_FEATURES, INT8_FEATURES, cpu_flags  # noqa: E402

REFERENCE = "detectron2 eager fp32"
PANOPTIC_ONLY = "PanFPN eager fp32 panoptic-only"
# The flags that decide the paths and the peak.
REPORTED_FLAGS = ("avx2", "fma", "avx512f", *BF16_FEATURES, *INT8_FEATURES)


def peak_flops_per_cycle(precision: str, flags) -> tuple:
    """(FLOPs per cycle per core, the ISA assumed): two FMA pipes per core, each FMA 2 FLOPs per
    lane. fp32: AVX-512 16 lanes -> 64, AVX2 8 lanes -> 32. bf16: AVX512-BF16's dot product does
    2 multiply-adds per fp32 lane -> 128; AMX-BF16 1024 (Intel's per-core figure). CPUs that
    split 512-bit operations into two 256-bit halves (AMD Zen 4) reach half of the AVX-512 figures.
    int8 (integer ops, counted as FLOPs): VNNI's dot product does 4 multiply-adds per 32-bit lane ->
    AVX512-VNNI 256, AVX-VNNI (256-bit) 128; AMX-INT8 2048 (Intel's per-core figure)."""
    if precision == "bf16":
        return (1024, "AMX-BF16") if "amx_bf16" in flags else (128, "AVX512-BF16 (2 x 16 lanes x 2 x 2)")
    if precision == "int8":
        if "amx_int8" in flags:
            return 2048, "AMX-INT8"
        if "avx512_vnni" in flags:
            return 256, "AVX512-VNNI (2 x 16 lanes x 4 x 2)"
        return 128, "AVX-VNNI (2 x 8 lanes x 4 x 2)"
    if "avx512f" in flags:
        return 64, "AVX-512 FMA (2 x 16 lanes x 2)"
    return 32, "AVX2 FMA (2 x 8 lanes x 2)"


def cpu_mhz() -> float:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1])
    return float("nan")


def build_paths(cfg_panfpn, cfg_detectron2, work_dir: Path, threads: int, seed: int, flags, images, only=None):
    """(the model, {path name: (image -> (id map, segments), precision)}, [(path name, why it is left out)]);
    with ``only`` (path names), the reference and those paths."""
    torch.manual_seed(seed)
    model = make_random_model_detect(build_model(cfg_panfpn), class_weight_std=1e-4)
    DetectionCheckpointer(model, save_dir=str(work_dir)).save("random_weights")
    calibration_folder = write_calibration_images(images, work_dir / "calibration")
    paths = {REFERENCE: (eager_predictor(cfg_detectron2), "fp32")}
    eager, eager_left_out = eager_paths(cfg_panfpn, flags)
    eager[PANOPTIC_ONLY] = (eager_predictor(panoptic_only(cfg_panfpn)), "fp32")
    runtime, runtime_left_out = runtime_paths(
        cfg_panfpn, work_dir, calibration_folder, len(images), threads, flags, only
    )
    paths.update((name, path) for name, path in eager.items() if only is None or name in only)
    return model, {**paths, **runtime}, eager_left_out + runtime_left_out


def write_calibration_images(images, folder: Path) -> Path:
    """The benchmark's (BGR) images as PNGs in ``folder``: the int8 export's calibration images."""
    folder.mkdir()
    for k, image in enumerate(images.values()):
        Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(folder / f"{k:03d}.png")
    return folder


def time_paths(paths, images, repeats: int):
    """({path: {image: median seconds}}, {path: {image: last prediction}})."""
    names = list(paths)
    seconds = {name: {image: [] for image in images} for name in names}
    predictions = {name: {} for name in names}
    for repeat in range(repeats + 1):  # the first pass warms up
        for k, (image_name, image) in enumerate(images.items()):
            shift = (repeat + k) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                predictions[name][image_name] = paths[name][0](image)
                if repeat:
                    seconds[name][image_name].append(time.perf_counter() - start)
    medians = {name: {image: statistics.median(t) for image, t in by_image.items()} for name, by_image in seconds.items()}
    return medians, predictions


def is_panoptic_only(path: str) -> bool:
    """Whether ``path`` runs the panoptic-only network: the eager panoptic-only row and every
    runtime row (their export is panoptic-only, ``runtime_paths``)."""
    return path == PANOPTIC_ONLY or path.split()[0] in BACKEND_CLASSES


def model_multiply_adds(network, cfg, images) -> float:
    """Mean multiply-adds per image (fvcore) of ``network`` (a module of one (3, H, W) image tensor)
    at each image's input size."""
    resize = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    total = 0.0
    for image in images.values():
        resized = resize.get_transform(image).apply_image(np.ascontiguousarray(image))
        total += count(network.eval(), (torch.as_tensor(resized.transpose(2, 0, 1).copy()).float(),))[""].flops
    return total / len(images)


def trained_toy(args, work_dir: Path):
    """(the toy cfg with ``--toy-weights`` and the quick start's val split, its training images'
    folder), or the quick start's toy trained here (with --quick: 10 iterations on 8 images)."""
    if not args.toy_weights:
        if args.quick:
            return train_quickstart_toy(
                work_dir / "toy", "SOLVER.MAX_ITER", 10, "SOLVER.STEPS", "(9,)", "SOLVER.WARMUP_ITERS", 5,
                "SOLVER.IMS_PER_BATCH", 2, num_train=8, num_val=4,
            )
        return train_quickstart_toy(work_dir / "toy")
    if not Path(args.toy_weights).is_file():
        raise SystemExit(f"--toy-weights {args.toy_weights}: no such file")
    cfg = load_config(str(TOY_CONFIG), ["MODEL.WEIGHTS", args.toy_weights])
    return cfg, Path(DatasetCatalog.get(cfg.DATASETS.TRAIN[0])[0]["file_name"]).parent


def toy_table(args, flags, work_dir: Path):
    """(the toy cfg, its number of val images, {path: (agreement with PanFPN eager fp32 over the val
    images, PQ)}, left out): every path on the trained toy, exported and calibrated on its training images."""
    cfg, train_images = trained_toy(args, work_dir)
    results, left_out = compare_every_path(cfg, train_images, work_dir / "toy_paths", args.threads, flags)
    return cfg, len(DatasetCatalog.get(cfg.DATASETS.TEST[0])), results, left_out


def get_parser():
    parser = benchmark_parser(__doc__, short_side=800, max_size=1333, repeats=2, threads_help="torch and runtime threads")
    parser.add_argument("--toy-weights", help="the trained toy's checkpoint (the quick start's output/toy/model_final.pth); "
                        "default: train it here, the quick start's 600 iterations")
    parser.add_argument("--paths", nargs="+", metavar="PATH",
                        help=f"time only these rows (names as printed) beside {REFERENCE!r}")
    parser.add_argument("--images", nargs="+", metavar="NAME", help="only these of the benchmark's images")
    parser.add_argument("--no-toy-table", action="store_true", help="leave out the trained toy's table")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    opts = config_overrides(args)
    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    images = load_images(args.generated_images, args.seed)
    if args.images:
        unknown = set(args.images) - set(images)
        if unknown:
            raise SystemExit(f"--images {sorted(unknown)}: not among the benchmark's images {list(images)}")
        images = {name: image for name, image in images.items() if name in args.images}
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = random_weights_cfg(args, opts, work_dir)
        cfg_detectron2 = random_weights_cfg(args, opts, work_dir, *DETECTRON2_OPTS)
        model, paths, left_out = build_paths(
            cfg, cfg_detectron2, Path(work_dir), args.threads, args.seed, flags, images, args.paths
        )
        unknown = set(args.paths or ()) - set(paths) - {name for name, _ in left_out}
        if unknown:
            raise SystemExit(f"--paths {sorted(unknown)}: no such path; the paths are {list(paths)}")
        medians, predictions = time_paths(paths, images, args.repeats)
        # the panoptic-only network's count is its export graph's: what the runtime rows run
        panoptic_model = build_model(panoptic_only(cfg))
        panoptic_model.load_state_dict(model.state_dict())
        multiply_adds = {False: model_multiply_adds(InferenceOnTensor(model), cfg, images),
                         True: model_multiply_adds(PanFPNExportGraph(panoptic_model), cfg, images)}
        toy = None if args.no_toy_table else toy_table(args, flags, Path(work_dir))

    mhz = cpu_mhz()
    print(machine_header())
    print(f"clock: {mhz:.0f} MHz (cpu MHz); {args.threads} threads")
    print(f"flags: {' '.join(flag for flag in REPORTED_FLAGS if flag in flags) or '(none of ' + ' '.join(REPORTED_FLAGS) + ')'}")
    print(f"config: {args.config_file} {' '.join(map(str, opts))}; short side {args.short_side}, max {args.max_size}; "
          f"{len(images)} images, median of {args.repeats} repeats")
    print(f"model: {multiply_adds[False] / 1e9:.2f} G multiply-adds = {2 * multiply_adds[False] / 1e9:.2f} GFLOPs "
          f"per image (fvcore); panoptic-only (the mask head on the detections the merge can paste): "
          f"{2 * multiply_adds[True] / 1e9:.2f} GFLOPs, the rate of the panoptic-only and runtime rows")
    pixels = {image: predictions[REFERENCE][image][0].size for image in images}
    reference_s = statistics.mean(medians[REFERENCE].values())
    print(f"{'path':<32} {'s/image':>9} {'ratio':>7} {'agreement':>10} {'GFLOP/s':>9} {'% peak':>7}  peak assumed")
    for name, (_, precision) in paths.items():
        seconds = statistics.mean(medians[name].values())
        agreement = np.average(
            [category_agreement(predictions[REFERENCE][image], predictions[name][image]) for image in images],
            weights=[pixels[image] for image in images],
        )
        per_cycle, isa = peak_flops_per_cycle(precision, flags)
        achieved = 2 * multiply_adds[is_panoptic_only(name)] / seconds / 1e9
        peak = args.threads * mhz * 1e6 * per_cycle / 1e9
        print(f"{name:<32} {seconds:>9.3f} {reference_s / seconds:>7.2f} {agreement:>10.5f} {achieved:>9.1f} "
              f"{100 * achieved / peak:>7.1f}  {args.threads} x {mhz / 1e3:.2f} GHz x {per_cycle} ({isa}) = {peak:.0f} GFLOP/s")
    for name, why in left_out:
        print(f"left out: {name}: {why}")
    if toy is not None:
        print_toy_table(*toy)


def print_toy_table(toy_cfg, toy_images, toy_rows, toy_left_out):
    """The trained toy's table of :func:`toy_table`'s results."""
    toy_val = toy_cfg.DATASETS.TEST[0]
    print(f"\ntrained toy: {toy_cfg.MODEL.WEIGHTS}; {toy_images} images of {toy_val} at "
          f"{toy_cfg.INPUT.MIN_SIZE_TEST} px; agreement with {EAGER_FP32}; PQ against {toy_val}'s ground truth")
    reference_pq = toy_rows[EAGER_FP32][1]
    print(f"{'path':<32} {'agreement':>10} {'PQ':>7} {'PQ - fp32':>10}")
    for name, (agreement, pq) in toy_rows.items():
        print(f"{name:<32} {agreement:>10.5f} {pq:>7.2f} {pq - reference_pq:>+10.2f}")
    for name, why in toy_left_out:
        print(f"left out (toy): {name}: {why}")


if __name__ == "__main__":
    main()
