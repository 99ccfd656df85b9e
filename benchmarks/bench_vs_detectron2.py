"""Time PanFPN against detectron2's built-in PanopticFPN: same weights, same images, one process.

    python benchmarks/bench_vs_detectron2.py [--config-file C] [--short-side 512] [--repeats 5]
        [--train-repeats 5] [--generated-images 2] [--threads 2] [--quick] [--opts KEY VALUE ...]

detectron2's model is built from the same config with META_ARCHITECTURE PanopticFPN and
SEM_SEG_HEAD.NAME SemSegFPNHead, given random weights made to detect (~100 confident, overlapping
instances per image, so that the panoptic merge has real work), and its state_dict is loaded into
PanFPN. Images: the COCO sample's two photos plus generated toy-dataset scenes, resized to the
short side. Timed, interleaved A/B/B/A over the repeats (noise on shared cores hits both sides
alike), medians reported:
  * inference, per image and per component (backbone, proposals, ROI heads, semantic head,
    merge), timed by hooks inside one normal forward call;
  * a training iteration (forward, backward, SGD step at learning rate 0) on the same batch
    with the same seed.
Both models' inference outputs are checked identical first. Ratios are PanFPN / detectron2
(below 1: PanFPN faster), and detectron2 / PanFPN for the merge speed-up.
``--quick``: a tiny GroupNorm ResNet-18 FPN at a 128-pixel short side, 1 repeat (a smoke test).
"""
import argparse
import operator
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model
from detectron2.modeling.meta_arch import panoptic_fpn as detectron2_panoptic_fpn
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_header  # noqa: E402

from panfpn_d2.data.toy import render_toy_image  # noqa: E402
from panfpn_d2.modeling import panoptic_merge as panfpn_panoptic_merge  # noqa: E402
from panfpn_d2.config import load_config  # noqa: E402
from panfpn_d2.tools.random_weights import make_random_model_detect  # noqa: E402
from panfpn_d2.tools.timing import ComponentTimer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "COCO-PanopticSegmentation" / "panfpn_R_50_1x.yaml"
SAMPLE_IMAGES = REPO_ROOT / "tests" / "assets" / "coco_panoptic_sample" / "input_images"
COMMON_OPTS = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "DATASETS.TRAIN", "()", "DATASETS.TEST", "()"]
DETECTRON2_OPTS = ["MODEL.META_ARCHITECTURE", "PanopticFPN", "MODEL.SEM_SEG_HEAD.NAME", "SemSegFPNHead"]
QUICK_OPTS = [
    "MODEL.RESNETS.DEPTH", 18, "MODEL.RESNETS.RES2_OUT_CHANNELS", 64, "MODEL.RESNETS.STEM_OUT_CHANNELS", 32,
    "MODEL.RESNETS.NORM", "GN", "MODEL.FPN.NORM", "GN", "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.SEM_SEG_HEAD.CONVS_DIM", 32, "MODEL.ROI_BOX_HEAD.FC_DIM", 64, "MODEL.ROI_MASK_HEAD.CONV_DIM", 16,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32, "MODEL.RPN.POST_NMS_TOPK_TRAIN", 64, "MODEL.RPN.POST_NMS_TOPK_TEST", 64,
    # The tiny box head's scores are flat (~1/80): keep and paste every detection anyway.
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0, "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.0,
]
GENERATED_IMAGE_SIZE = 640
INSTANCES_PER_TRAINING_IMAGE = 8
# component -> its module's attribute path in both models; the merge is timed as a function
TIMED_MODULES = {"backbone": "backbone", "proposals": "proposal_generator", "roi heads": "roi_heads",
                 "semantic head": "sem_seg_head"}
COMPONENTS = (*TIMED_MODULES, "merge")
SIDES = ("detectron2", "panfpn_d2")


def build_models(config_file, opts, seed):
    """(detectron2's PanopticFPN, PanFPN) with the same random detecting weights."""
    torch.manual_seed(seed)
    detectron2_model = build_model(load_config(config_file, [*COMMON_OPTS, *opts, *DETECTRON2_OPTS]))
    make_random_model_detect(detectron2_model)
    panfpn_model = build_model(load_config(config_file, [*COMMON_OPTS, *opts]))
    panfpn_model.load_state_dict(detectron2_model.state_dict())
    return {"detectron2": detectron2_model.eval(), "panfpn_d2": panfpn_model.eval()}


def load_images(short_side, max_size, num_generated, seed):
    """Model inputs: the sample photos and generated scenes (BGR), resized to the short side."""
    photos = [read_image(str(path), format="BGR") for path in sorted(SAMPLE_IMAGES.glob("*.jpg"))]
    if not photos:
        raise FileNotFoundError(f"{SAMPLE_IMAGES}: no .jpg sample images")
    rng = np.random.default_rng(seed)
    generated = [render_toy_image(rng, GENERATED_IMAGE_SIZE)[0][:, :, ::-1] for _ in range(num_generated)]
    resize = T.ResizeShortestEdge(short_side, max_size)
    inputs = []
    for image in photos + generated:
        resized = resize.get_transform(image).apply_image(np.ascontiguousarray(image))
        inputs.append({
            "image": torch.as_tensor(resized.transpose(2, 0, 1).copy()).float(),
            "height": image.shape[0],
            "width": image.shape[1],
        })
    return inputs


def add_training_targets(inputs, num_thing_classes, num_semantic_classes, seed):
    """The inputs with random elliptic instances and a blocky semantic map at the input size."""
    generator = torch.Generator().manual_seed(seed)
    batch = []
    for model_input in inputs:
        _, height, width = model_input["image"].shape
        corners = torch.rand(INSTANCES_PER_TRAINING_IMAGE, 2, 2, generator=generator) * torch.tensor([width, height])
        boxes = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values + 8], dim=1)
        ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
        centres, radii = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2
        masks = ((xs - centres[:, None, None, 0]) / radii[:, None, None, 0]) ** 2 + (
            (ys - centres[:, None, None, 1]) / radii[:, None, None, 1]) ** 2 <= 1
        instances = Instances((height, width))
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = torch.randint(num_thing_classes, (len(boxes),), generator=generator)
        instances.gt_masks = BitMasks(masks)
        coarse = torch.randint(num_semantic_classes, (1, 1, height // 32 + 1, width // 32 + 1), generator=generator)
        sem_seg = torch.nn.functional.interpolate(coarse.float(), scale_factor=32, mode="nearest")[0, 0, :height, :width]
        batch.append(dict(model_input, instances=instances, sem_seg=sem_seg.long()))
    return batch


def component_timer(model, merge_owner, modules):
    return ComponentTimer(
        {name: operator.attrgetter(path)(model) for name, path in modules.items()},
        {"merge": (merge_owner, "combine_semantic_and_instance_outputs")},
    )


def check_same_outputs(models, inputs):
    """Raise unless both models give the same panoptic output on every input; return the instance counts."""
    counts = []
    with torch.no_grad():
        for model_input in inputs:
            (expected,), (actual,) = (models[side]([model_input]) for side in SIDES)
            expected_map, expected_segments = expected["panoptic_seg"]
            actual_map, actual_segments = actual["panoptic_seg"]
            if not torch.equal(actual_map, expected_map) or actual_segments != expected_segments:
                raise SystemExit("PanFPN's panoptic output differs from detectron2's on the same weights")
            counts.append((len(actual["instances"]), sum(s["isthing"] for s in actual_segments)))
    return counts


def time_inference(models, inputs, repeats, modules=TIMED_MODULES):
    """side -> {"total", each of ``modules`` and "merge": [seconds per pass over the images, one per repeat]}."""
    timers = {
        "detectron2": component_timer(models["detectron2"], detectron2_panoptic_fpn, modules),
        "panfpn_d2": component_timer(models["panfpn_d2"], panfpn_panoptic_merge, modules),
    }
    components = (*modules, "merge")
    passes = {side: {name: [] for name in ("total", *components)} for side in SIDES}
    with torch.no_grad():
        for repeat in range(repeats):
            totals = {side: 0.0 for side in SIDES}
            for index, model_input in enumerate(inputs):
                order = SIDES if (repeat + index) % 2 == 0 else SIDES[::-1]
                for side in order:
                    with timers[side]:
                        start = time.perf_counter()
                        models[side]([model_input])
                        totals[side] += time.perf_counter() - start
            for side in SIDES:
                passes[side]["total"].append(totals[side])
                seconds = timers[side].reset()
                for name in components:
                    passes[side][name].append(seconds.get(name, 0.0))
    return passes


def time_training(models, batch, repeats, seed):
    """side -> [seconds per training iteration]."""
    # Learning rate 0: the step does its usual work but leaves the weights alone, so every
    # iteration sees the same model (a real step diverges from these detecting random weights).
    optimizers = {side: torch.optim.SGD(models[side].parameters(), lr=0.0, momentum=0.9) for side in SIDES}
    seconds = {side: [] for side in SIDES}
    for side in SIDES:
        models[side].train()
    try:
        with EventStorage(0):
            for repeat in range(repeats + 1):  # the first iteration warms up, untimed
                for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                    torch.manual_seed(seed + repeat)
                    start = time.perf_counter()
                    losses = models[side](batch)
                    optimizers[side].zero_grad()
                    sum(losses.values()).backward()
                    optimizers[side].step()
                    if repeat:
                        seconds[side].append(time.perf_counter() - start)
    finally:
        for side in SIDES:
            models[side].eval()
    return seconds


def ratio_line(name, detectron2_seconds, panfpn_seconds, speedup=False):
    ratio = (detectron2_seconds / panfpn_seconds if speedup else panfpn_seconds / detectron2_seconds)
    label = "speed-up (detectron2 / panfpn_d2)" if speedup else "ratio (panfpn_d2 / detectron2)"
    return (f"{name:<26} detectron2 {detectron2_seconds * 1e3:9.1f} ms   panfpn_d2 {panfpn_seconds * 1e3:9.1f} ms   "
            f"{label} {ratio:.3f}")


def benchmark_parser(description, short_side, max_size, repeats, threads_help):
    """The options the inference benchmarks share, with their own defaults."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=str(DEFAULT_CONFIG))
    parser.add_argument("--short-side", type=int, default=short_side)
    parser.add_argument("--max-size", type=int, default=max_size)
    parser.add_argument("--generated-images", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=repeats, help="timed passes over the images (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2, help=threads_help)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny model, 128-pixel short side, 1 repeat")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides, last")
    return parser


def get_parser():
    parser = benchmark_parser(__doc__, short_side=512, max_size=853, repeats=5, threads_help="torch.set_num_threads")
    parser.add_argument("--train-repeats", type=int, default=5, help="timed training iterations per model")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    opts = list(args.opts)
    if args.quick:
        opts = QUICK_OPTS + opts
        args.short_side, args.max_size, args.generated_images = 128, 213, 1
        args.repeats = args.train_repeats = 1
    torch.set_num_threads(args.threads)
    models = build_models(args.config_file, opts, args.seed)
    inputs = load_images(args.short_side, args.max_size, args.generated_images, args.seed)
    cfg = load_config(args.config_file, [*COMMON_OPTS, *opts])

    print(machine_header())
    print(f"torch {torch.__version__} "
          f"({args.threads} threads), oneDNN convolutions {'on' if torch.backends.mkldnn.enabled else 'off'}")
    print(f"config: {args.config_file} {' '.join(map(str, opts))}")
    sizes = ", ".join(f"{tuple(x['image'].shape[1:])}" for x in inputs)
    print(f"images: {len(inputs)} ({sizes} model input; merge at the original size)")
    counts = check_same_outputs(models, inputs)
    print("outputs identical; instances per image: " + ", ".join(f"{n} ({t} pasted)" for n, t in counts))

    passes = time_inference(models, inputs, args.repeats + 1)
    print(f"\ninference, ms per image (mean over the {len(inputs)} images, median of {args.repeats} passes):")
    for name in ("total", *COMPONENTS):
        medians = [statistics.median(passes[side][name][1:]) / len(inputs) for side in SIDES]
        print(ratio_line(name, *medians, speedup=name == "merge"))

    batch = add_training_targets(inputs[:2], cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, args.seed)
    training = time_training(models, batch, args.train_repeats, args.seed)
    print(f"\ntraining iteration, batch of {len(batch)} (median of {args.train_repeats}):")
    print(ratio_line("forward+backward+step", *(statistics.median(training[side]) for side in SIDES)))


if __name__ == "__main__":
    main()
