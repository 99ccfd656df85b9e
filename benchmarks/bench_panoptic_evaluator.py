"""Benchmark: PanFPNPanopticEvaluator vs detectron2's COCOPanopticEvaluator (PNG encode + temp
files + panopticapi) on the same in-memory model outputs, process() + evaluate(), results checked
equal.

    python benchmarks/bench_panoptic_evaluator.py [--images 200] [--height 480] [--width 640]
"""
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOPanopticEvaluator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pq_cli import generate, machine, parse_size_arguments, require_equal  # noqa: E402

from panfpn_d2.data import register_panoptic_dataset  # noqa: E402
from panfpn_d2.data.dataset_mapper import read_panoptic_png  # noqa: E402
from panfpn_d2.evaluation import PanFPNPanopticEvaluator  # noqa: E402

KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")


def model_outputs(pred_json, pred_folder, metadata):
    """The generated predictions as PanFPN outputs: (id map tensor, segments_info with contiguous ids)."""
    with open(pred_json) as f:
        predictions = json.load(f)
    things = metadata.thing_dataset_id_to_contiguous_id
    stuff = metadata.stuff_dataset_id_to_contiguous_id
    examples = []
    for annotation in predictions["annotations"]:
        id_map = read_panoptic_png(f"{pred_folder}/{annotation['file_name']}")
        segments = [
            {"id": s["id"], "isthing": s["category_id"] in things,
             "category_id": things[s["category_id"]] if s["category_id"] in things else stuff[s["category_id"]]}
            for s in annotation["segments_info"]
        ]
        model_input = {"image_id": annotation["image_id"], "file_name": annotation["file_name"].replace(".png", ".jpg")}
        examples.append((model_input, {"panoptic_seg": (torch.from_numpy(id_map.astype(np.int32)), segments)}))
    return examples


def run(evaluator, examples):
    # detectron2's evaluator pops keys from the segments it is given: hand each a fresh copy.
    copies = [(i, {"panoptic_seg": (o["panoptic_seg"][0], [dict(s) for s in o["panoptic_seg"][1]])}) for i, o in examples]
    start = time.perf_counter()
    evaluator.reset()
    for model_input, output in copies:
        evaluator.process([model_input], [output])
    results = evaluator.evaluate()["panoptic_seg"]
    return results, time.perf_counter() - start


def main():
    args = parse_size_arguments(__doc__, 200, 480, 640)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_panoptic_evaluator") as folder:
        (gt_json, gt_folder), (pred_json, pred_folder) = generate(folder, args.images, args.height, args.width)
        with open(gt_json) as f:
            categories = json.load(f)["categories"]
        name = "bench_panoptic_evaluator_synthetic"
        register_panoptic_dataset(name, gt_json, folder, gt_folder, categories=categories)
        metadata = MetadataCatalog.get(name)
        examples = model_outputs(pred_json, pred_folder, metadata)
        ours, ours_seconds = run(PanFPNPanopticEvaluator(name), examples)
        reference, reference_seconds = run(COCOPanopticEvaluator(name), examples)

    difference = max(abs(ours[k] - reference[k]) for k in KEYS)
    print(f"machine: {machine()}")
    print(f"{args.images} predictions of {args.height}x{args.width}, process() + evaluate()")
    print("PQ {PQ:.3f}  PQ_th {PQ_th:.3f}  PQ_st {PQ_st:.3f}".format(**ours))
    print(f"detectron2 COCOPanopticEvaluator: {reference_seconds:.2f} s")
    print(f"PanFPNPanopticEvaluator:          {ours_seconds:.2f} s")
    print(f"speed-up: {reference_seconds / ours_seconds:.1f}x")
    print(f"max |difference| over {', '.join(KEYS)} (percent): {difference:.3g}")
    require_equal(difference)


if __name__ == "__main__":
    main()
