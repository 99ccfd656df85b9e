"""Benchmark: PanFPNPanopticEvaluator vs detectron2's COCOPanopticEvaluator (PNG encode + temp
files + panopticapi) on the same in-memory model outputs, process() + evaluate(), results checked
equal.

    python benchmarks/bench_panoptic_evaluator.py [--images 200] [--height 480] [--width 640]
"""
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOPanopticEvaluator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pq_cli import best_of, generate, parse_size_arguments, require_equal  # noqa: E402
from common import machine_header  # noqa: E402

from panfpn_d2.data import register_panoptic_dataset  # noqa: E402
from panfpn_lite.panoptic_format import read_panoptic_png  # noqa: E402
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


def run(evaluator, examples, repeats):
    """(best time of ``repeats`` reset + process + evaluate rounds, the results)."""
    def one_round():
        evaluator.reset()
        for model_input, output in examples:
            # detectron2's evaluator pops keys from the segments it is given: hand each a fresh copy.
            id_map, segments = output["panoptic_seg"]
            evaluator.process([model_input], [{"panoptic_seg": (id_map, [dict(s) for s in segments])}])
        return evaluator.evaluate()["panoptic_seg"]

    return best_of(repeats, one_round)


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
        ours_seconds, ours = run(PanFPNPanopticEvaluator(name), examples, args.repeats)
        reference_seconds, reference = run(COCOPanopticEvaluator(name), examples, args.repeats)

    difference = max(abs(ours[k] - reference[k]) for k in KEYS)
    print(machine_header())
    print(f"{args.images} predictions of {args.height}x{args.width}, process() + evaluate(), best of {args.repeats} runs each")
    print("PQ {PQ:.3f}  PQ_th {PQ_th:.3f}  PQ_st {PQ_st:.3f}".format(**ours))
    print(f"detectron2 COCOPanopticEvaluator: {reference_seconds:.2f} s")
    print(f"PanFPNPanopticEvaluator:          {ours_seconds:.2f} s")
    print(f"speed-up: {reference_seconds / ours_seconds:.1f}x")
    print(f"max |difference| over {', '.join(KEYS)} (percent): {difference:.3g}")
    require_equal(difference)


if __name__ == "__main__":
    main()
