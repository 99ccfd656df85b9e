"""Tune the panoptic merge's three thresholds on a validation set:

    python -m panfpn_d2.tools.tune_merge --config-file CONFIG --output DIR
        [--grid-overlap A ...] [--grid-stuff-area N ...] [--grid-confidence C ...]
        --opts MODEL.WEIGHTS W [KEY VALUE ...]

The network runs once per image of DATASETS.TEST[0]; what the merge consumes is kept under
``DIR/raw_outputs/`` (one compressed ``.npz`` per image: the detections' scores and classes, their
pasted masks cropped to the mask's extent and bit-packed, and the semantic label map, the argmax of
the logits). Only the merge then runs again, for every setting of the grid
``MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH`` x ``STUFF_AREA_LIMIT`` x ``INSTANCES_CONFIDENCE_THRESH``,
and each setting's panoptic maps are scored by the trainer's panoptic evaluator
(:class:`~panfpn_d2.evaluation.panoptic_evaluation.PanFPNPanopticEvaluator`, hotcoco's PQ): a
setting's PQ is the PQ of ``--eval-only`` with those keys. Prints PQ / PQ_th / PQ_st per setting and
the best; writes ``DIR/tuning.json`` (every setting), ``DIR/best_merge.yaml`` (the best as a config
fragment) and ``DIR/best_merge_opts.txt`` (the same as ``KEY VALUE`` overrides).

The default grid is the config's own value of each key and its two neighbours: the overlap and the
confidence threshold -0.2 and +0.2 (kept within [0, 1]), the stuff area limit halved and doubled;
around detectron2's defaults (0.5 / 4096 / 0.5) that is 0.3 0.5 0.7 x 2048 4096 8192 x 0.3 0.5 0.7.
The config's setting is always in the default grid, so the best is never worse than it.
"""
import argparse
import itertools
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import MetadataCatalog
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import Instances

from panfpn_lite.merge_settings import MergeSettings

from ..config import load_config, merge_settings
from ..engine import Trainer
from ..evaluation.panoptic_evaluation import PanFPNPanopticEvaluator
from ..modeling.meta_arch import PanFPN, requested_output_sizes
from ..modeling.panoptic_merge import combine_semantic_and_instance_outputs
from .cli import add_config_arguments

COMBINE_KEYS = {
    "overlap_thresh": "MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH",
    "stuff_area_limit": "MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT",
    "instances_confidence_thresh": "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH",
}
GRID_OPTIONS = {
    "overlap_thresh": "--grid-overlap",
    "stuff_area_limit": "--grid-stuff-area",
    "instances_confidence_thresh": "--grid-confidence",
}
METRICS = ("PQ", "PQ_th", "PQ_st")
RAW_OUTPUTS = "raw_outputs"


@dataclass
class MergeGrid:
    """The values tried for each threshold (MergeSettings' field names)."""

    overlap_thresh: Sequence[float]
    stuff_area_limit: Sequence[int]
    instances_confidence_thresh: Sequence[float]

    def __post_init__(self):
        for name, option in GRID_OPTIONS.items():
            values = list(getattr(self, name))
            if not values:
                raise ValueError(f"{option} ({COMBINE_KEYS[name]}): the grid needs at least one value")
            low, high = (0.0, 1.0) if name != "stuff_area_limit" else (0, float("inf"))
            bad = [v for v in values if not low <= v <= high]
            if bad:
                raise ValueError(f"{option} ({COMBINE_KEYS[name]}): {bad} out of range [{low}, {high}]")
            setattr(self, name, list(dict.fromkeys(values)))

    def settings(self) -> List[MergeSettings]:
        return [
            MergeSettings(o, s, c)
            for o, s, c in itertools.product(self.overlap_thresh, self.stuff_area_limit, self.instances_confidence_thresh)
        ]


def default_grid(current: MergeSettings, given: Optional[Dict[str, Sequence]] = None) -> MergeGrid:
    """The grid of the values ``given`` (by MergeSettings field name), and for each key not given, the
    config's value and its neighbours (see the module's docstring)."""
    given = {name: values for name, values in (given or {}).items() if values is not None}
    missing = [name for name in current.per_category_fields() if name not in given]
    if missing:
        options = ", ".join(f"{GRID_OPTIONS[name]} ({COMBINE_KEYS[name]})" for name in missing)
        raise ValueError(f"the config gives per-category thresholds; no default grid for them: give {options}")

    def around(value: float) -> List[float]:
        return sorted({round(min(1.0, max(0.0, value + step)), 6) for step in (-0.2, 0.0, 0.2)})

    area = current.stuff_area_limit
    defaults = {
        "overlap_thresh": lambda: around(current.overlap_thresh),
        "stuff_area_limit": lambda: sorted({int(round(area / 2)), int(area), int(round(area * 2))}),
        "instances_confidence_thresh": lambda: around(current.instances_confidence_thresh),
    }
    return MergeGrid(**{name: given[name] if name in given else default() for name, default in defaults.items()})


def encode_masks(masks: np.ndarray) -> dict:
    """(N, H, W) boolean masks as each mask's extent (y0, y1, x0, x1) and its crop's packed bits."""
    extents, bits = [], []
    for mask in masks:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        extent = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if len(rows) else (0, 0, 0, 0)
        extents.append(extent)
        bits.append(np.packbits(mask[extent[0] : extent[1], extent[2] : extent[3]]))
    sizes = [len(b) for b in bits]
    return {
        "mask_extents": np.asarray(extents, dtype=np.int32).reshape(-1, 4),
        "mask_bits": np.concatenate(bits) if bits else np.zeros(0, np.uint8),
        "mask_offsets": np.cumsum([0] + sizes).astype(np.int64),
    }


def decode_masks(encoded: dict, height: int, width: int) -> np.ndarray:
    """The (N, H, W) boolean masks of :func:`encode_masks`."""
    extents, bits, offsets = encoded["mask_extents"], encoded["mask_bits"], encoded["mask_offsets"]
    masks = np.zeros((len(extents), height, width), dtype=bool)
    for index, (y0, y1, x0, x1) in enumerate(extents):
        count = (y1 - y0) * (x1 - x0)
        crop = np.unpackbits(bits[offsets[index] : offsets[index + 1]], count=count).astype(bool)
        masks[index, y0:y1, x0:x1] = crop.reshape(y1 - y0, x1 - x0)
    return masks


def merge_inputs(model: PanFPN, batched_inputs: List[dict]) -> Iterator[tuple]:
    """Per image, (detections with pasted masks, semantic label map) at the output size: what the
    merge consumes, for every detection at or above the model's confidence threshold."""
    raw = model.inference_raw(batched_inputs, model.outputs)
    output_sizes = requested_output_sizes(batched_inputs, raw.images.image_sizes)
    instances, _ = model.pasteable_instances(raw.instance_features, raw.instances, output_sizes)
    for i, (image_size, (height, width)) in enumerate(zip(raw.images.image_sizes, output_sizes)):
        labels = sem_seg_postprocess(raw.sem_seg_logits[i], image_size, height, width).argmax(dim=0)
        yield instances[i], labels


def raw_record(model_input: dict, instances: Instances, labels: torch.Tensor) -> dict:
    """One image's compact raw outputs (numpy arrays and the fields the evaluator reads)."""
    num_labels = int(labels.max()) + 1 if labels.numel() else 1
    return {
        "image_id": np.asarray(model_input["image_id"]),
        "file_name": np.asarray(model_input["file_name"]),
        "scores": instances.scores.cpu().numpy().astype(np.float32),
        "classes": instances.pred_classes.cpu().numpy().astype(np.int64),
        "labels": labels.cpu().numpy().astype(np.uint8 if num_labels <= 256 else np.int32),
        **encode_masks(instances.pred_masks.cpu().numpy().astype(bool)),
    }


def tuning_model(cfg, lowest_confidence: float) -> PanFPN:
    """The config's model (weights loaded) in panoptic-only mode at the grid's lowest confidence
    threshold: its mask head runs, and masks are pasted, for every detection some setting pastes."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.PANFPN.OUTPUTS = ("panoptic_seg",)
    cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH = float(lowest_confidence)
    model = Trainer.build_model(cfg)
    if not isinstance(model, PanFPN) or model.roi_heads is None or model.sem_seg_head is None:
        raise ValueError(
            f"tune_merge tunes the merge of a joint model's two branches: MODEL.META_ARCHITECTURE "
            f"{cfg.MODEL.META_ARCHITECTURE!r} with MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT and "
            "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT > 0 (PanFPN) is needed"
        )
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.eval()
    return model


def check_dataset(cfg) -> str:
    """DATASETS.TEST[0], which must have panoptic ground truth."""
    if not cfg.DATASETS.TEST:
        raise ValueError("DATASETS.TEST is empty: tune_merge tunes on its first dataset")
    name = cfg.DATASETS.TEST[0]
    metadata = MetadataCatalog.get(name)
    if not metadata.get("has_annotations", True) or metadata.get("panoptic_json", None) is None:
        raise ValueError(f"dataset {name!r} (DATASETS.TEST[0]) has no panoptic annotations to score the merge on")
    return name


def write_raw_outputs(cfg, model: PanFPN, dataset_name: str, folder: str) -> List[str]:
    """Run the network once per image; one ``.npz`` per image under ``folder``; their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    with torch.no_grad():
        for batch in Trainer.build_test_loader(cfg, dataset_name):
            for model_input, (instances, labels) in zip(batch, merge_inputs(model, batch)):
                path = os.path.join(folder, f"{len(paths):06d}.npz")
                np.savez_compressed(path, **raw_record(model_input, instances, labels))
                paths.append(path)
    return paths


def decoded_record(record: dict) -> tuple:
    """(detections with their masks, semantic label map) of one raw record, as the merge takes them."""
    labels = torch.from_numpy(record["labels"].astype(np.int64))
    height, width = labels.shape
    instances = Instances(
        (height, width),
        scores=torch.from_numpy(record["scores"]),
        pred_classes=torch.from_numpy(record["classes"]),
        pred_masks=torch.from_numpy(decode_masks(record, height, width)),
    )
    return instances, labels


def merged(instances: Instances, labels: torch.Tensor, settings: MergeSettings, semantic_label_to_category) -> tuple:
    """The panoptic output of one image's decoded raw outputs merged with ``settings``."""
    return combine_semantic_and_instance_outputs(
        instances,
        labels,
        settings.overlap_thresh,
        settings.stuff_area_limit,
        settings.instances_confidence_thresh,
        semantic_label_to_category=semantic_label_to_category,
    )


@contextmanager
def quiet_evaluator():
    """The evaluator logs its tables at every evaluation: once per setting is noise."""
    evaluation_logger = logging.getLogger(PanFPNPanopticEvaluator.__module__)
    level = evaluation_logger.level
    evaluation_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        evaluation_logger.setLevel(level)


def score_grid(raw_paths: List[str], settings: List[MergeSettings], dataset_name: str,
               semantic_label_to_category, timings: Dict[str, float]) -> List[Dict[str, float]]:
    """PQ / PQ_th / PQ_st of every setting: each image's raw outputs read once and merged with
    every setting, each setting's panoptic maps scored by its own evaluator."""
    evaluators = [PanFPNPanopticEvaluator(dataset_name, distributed=False) for _ in settings]
    for path in raw_paths:
        start = time.perf_counter()
        with np.load(path) as archive:
            record = dict(archive)
        model_input = {"image_id": record["image_id"].item(), "file_name": str(record["file_name"])}
        instances, labels = decoded_record(record)
        decoded = time.perf_counter()
        for setting, evaluator in zip(settings, evaluators):
            panoptic_seg = merged(instances, labels, setting, semantic_label_to_category)
            evaluator.process([model_input], [{"panoptic_seg": panoptic_seg}])
        timings["read + decode"] += decoded - start
        timings["merge + encode"] += time.perf_counter() - decoded
    start = time.perf_counter()
    with quiet_evaluator():
        results = [evaluator.evaluate()["panoptic_seg"] for evaluator in evaluators]
    timings["PQ"] += time.perf_counter() - start
    return [{metric: result[metric] for metric in METRICS} for result in results]


def best_index(results: List[Dict[str, float]], settings: List[MergeSettings], current: MergeSettings) -> int:
    """The setting of highest PQ; of equal ones, the config's own, else the first."""
    return max(range(len(settings)), key=lambda i: (np.nan_to_num(results[i]["PQ"], nan=-1.0), settings[i] == current))


def overrides(settings: MergeSettings) -> Dict[str, object]:
    return {key: getattr(settings, name) for name, key in COMBINE_KEYS.items()}


def yaml_fragment(settings: MergeSettings) -> str:
    lines = ["MODEL:", "  PANOPTIC_FPN:", "    COMBINE:"]
    lines += [f"      {key.rsplit('.', 1)[1]}: {value}" for key, value in overrides(settings).items()]
    return "\n".join(lines) + "\n"


def opts_line(settings: MergeSettings) -> str:
    return " ".join(f"{key} {value}" for key, value in overrides(settings).items())


def results_table(settings: List[MergeSettings], results: List[Dict[str, float]], best: int) -> str:
    header = f"{'OVERLAP_THRESH':>14} {'STUFF_AREA_LIMIT':>16} {'INSTANCES_CONFIDENCE_THRESH':>27} " + " ".join(
        f"{m:>7}" for m in METRICS)
    rows = [header]
    for index, (setting, result) in enumerate(zip(settings, results)):
        rows.append(
            f"{setting.overlap_thresh:>14} {setting.stuff_area_limit:>16} {setting.instances_confidence_thresh:>27} "
            + " ".join(f"{result[m]:>7.3f}" for m in METRICS) + ("  <- best" if index == best else "")
        )
    return "\n".join(rows)


def tune_merge(cfg, output_dir: str, grid: Optional[MergeGrid] = None) -> dict:
    """Tune the merge of ``cfg``'s model (MODEL.WEIGHTS) on DATASETS.TEST[0]; see the module's
    docstring. Returns the JSON written to ``output_dir/tuning.json``. One process (no distributed run)."""
    dataset_name = check_dataset(cfg)
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("MODEL.WEIGHTS is empty: tune_merge tunes the merge of a trained model's outputs")
    current = merge_settings(cfg)
    grid = grid if grid is not None else default_grid(current)
    settings = grid.settings()
    timings = {"network": 0.0, "read + decode": 0.0, "merge + encode": 0.0, "PQ": 0.0}

    start = time.perf_counter()
    model = tuning_model(cfg, min(grid.instances_confidence_thresh))
    raw_paths = write_raw_outputs(cfg, model, dataset_name, os.path.join(output_dir, RAW_OUTPUTS))
    timings["network"] = time.perf_counter() - start
    results = score_grid(raw_paths, settings, dataset_name, model.semantic_label_to_category, timings)

    best = best_index(results, settings, current)
    table = results_table(settings, results, best)
    summary = {
        "dataset": dataset_name,
        "images": len(raw_paths),
        "config": overrides(current),
        "grid": {COMBINE_KEYS[name]: getattr(grid, name) for name in COMBINE_KEYS},
        "settings": [dict(overrides(s), **r) for s, r in zip(settings, results)],
        "best": dict(overrides(settings[best]), **results[best]),
        "seconds": timings,
    }
    with open(os.path.join(output_dir, "tuning.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(output_dir, "best_merge.yaml"), "w") as f:
        f.write(yaml_fragment(settings[best]))
    with open(os.path.join(output_dir, "best_merge_opts.txt"), "w") as f:
        f.write(opts_line(settings[best]) + "\n")
    print(f"Merge tuning on {dataset_name} ({len(raw_paths)} images, {len(settings)} settings):")
    print(table)
    current_pq = [r["PQ"] for s, r in zip(settings, results) if s == current]
    print(f"best: PQ {results[best]['PQ']:.3f}; the config's setting: "
          + (f"PQ {current_pq[0]:.3f}" if current_pq else "not in the grid"))
    print(f"--opts {opts_line(settings[best])}")
    print(f"wrote {output_dir}/best_merge.yaml, best_merge_opts.txt, tuning.json")
    print("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    return summary


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, metavar="DIR", help="where the raw outputs and results go")
    parser.add_argument("--grid-overlap", type=float, nargs="*", metavar="A", help=COMBINE_KEYS["overlap_thresh"])
    parser.add_argument("--grid-stuff-area", type=int, nargs="*", metavar="N", help=COMBINE_KEYS["stuff_area_limit"])
    parser.add_argument("--grid-confidence", type=float, nargs="*", metavar="C",
                        help=COMBINE_KEYS["instances_confidence_thresh"])
    add_config_arguments(parser)
    return parser


def main(argv=None) -> dict:
    args = get_parser().parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    given = {"overlap_thresh": args.grid_overlap, "stuff_area_limit": args.grid_stuff_area,
             "instances_confidence_thresh": args.grid_confidence}
    grid = default_grid(merge_settings(cfg), given)
    os.makedirs(args.output, exist_ok=True)
    return tune_merge(cfg, args.output, grid)


if __name__ == "__main__":
    main()
