"""Benchmark: ``python -m panfpn_lite.pq`` vs panopticapi's ``pq_compute`` on the same
generated COCO panoptic PNG pairs (ground truth + perturbed predictions), results checked equal.

    python benchmarks/bench_pq_cli.py [--images 200] [--height 480] [--width 640]
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Tuple, TypeVar

import numpy as np
from PIL import Image

from common import machine_header
from panfpn_lite.panoptic_format import segment_areas, segment_box, write_panoptic_png

T = TypeVar("T")
CATEGORIES_JSON = Path(__file__).resolve().parents[1] / "tests" / "assets" / "coco_panoptic_sample" / "panoptic_coco_categories.json"


def parse_size_arguments(doc: str, images: int, height: int, width: int) -> argparse.Namespace:
    """--images/--height/--width/--repeats, the arguments every benchmark here takes."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--height", type=int, default=height)
    parser.add_argument("--width", type=int, default=width)
    parser.add_argument("--repeats", type=int, default=3, help="each side's time is the best of this many runs")
    return parser.parse_args()


def best_of(repeats: int, function: Callable[[], T]) -> Tuple[float, T]:
    """(the shortest of ``repeats`` timed calls of ``function``, the last call's result): on a shared
    machine the minimum is the least disturbed run, for both sides alike."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def require_equal(difference: float, tolerance: float = 1e-9):
    if difference > tolerance:
        raise SystemExit(f"results differ by {difference:.3g}, more than {tolerance}")


def synthetic_image(rng, height, width, categories):
    """One (ground truth, prediction) pair: id maps and segments_info with dataset category ids.

    Ground truth: four stuff bands, ~15 thing boxes (one crowd), a void border. Prediction: the
    things shifted by a few pixels, one dropped, one relabelled, one false positive; the stuff
    bands moved.
    """
    things = [c["id"] for c in categories if c["isthing"]]
    stuff = [c["id"] for c in categories if not c["isthing"]]
    gt = np.zeros((height, width), dtype=np.int64)
    pred = np.zeros((height, width), dtype=np.int64)
    gt_info, pred_info = [], []
    band_edges = np.linspace(0, height, 5).astype(int)
    for band, category in enumerate(rng.choice(stuff, size=4, replace=False)):
        segment_id = 1 + band
        gt[band_edges[band]:band_edges[band + 1]] = segment_id
        gt_info.append({"id": segment_id, "category_id": int(category), "iscrowd": 0})
        offset = int(rng.integers(-20, 21))
        pred[max(0, band_edges[band] + offset):band_edges[band + 1] + offset] = segment_id
        pred_info.append({"id": segment_id, "category_id": int(category)})
    n_things = int(rng.integers(10, 20))
    for k in range(n_things):
        segment_id = 100 + 7 * k
        h, w = int(rng.integers(8, height // 3)), int(rng.integers(8, width // 3))
        y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        category = int(rng.choice(things))
        gt[y:y + h, x:x + w] = segment_id
        gt_info.append({"id": segment_id, "category_id": category, "iscrowd": int(k == 0)})
        if k == 1:
            continue  # dropped: a false negative
        dy, dx = rng.integers(-max(1, h // 4), max(2, h // 4)), rng.integers(-max(1, w // 4), max(2, w // 4))
        y2, x2 = int(np.clip(y + dy, 0, height - h)), int(np.clip(x + dx, 0, width - w))
        pred[y2:y2 + h, x2:x2 + w] = segment_id
        pred_info.append({"id": segment_id, "category_id": int(rng.choice(things)) if k == 2 else category})
    pred[10:40, 10:60] = 99  # a false positive
    pred_info.append({"id": 99, "category_id": int(things[0])})
    gt[:3] = 0
    gt[:, :3] = 0  # void border
    gt_info = [s for s in gt_info if (gt == s["id"]).any()]
    pred_info = [s for s in pred_info if (pred == s["id"]).any()]
    return (gt, gt_info), (pred, pred_info)


def write_coco_panoptic(folder, name, images, categories):
    """Write ``images`` ([(image_id, id_map, segments_info)]) as ``folder/name.json`` + ``folder/name/*.png``."""
    png_folder = os.path.join(folder, name)
    os.makedirs(png_folder, exist_ok=True)
    image_records, annotations = [], []
    for image_id, id_map, segments_info in images:
        file_name = f"{image_id:012d}.png"
        write_panoptic_png(id_map, os.path.join(png_folder, file_name))
        area = segment_areas(id_map, [s["id"] for s in segments_info])
        segments = [
            dict(s, area=area[s["id"]], bbox=segment_box(id_map == s["id"]), iscrowd=s.get("iscrowd", 0))
            for s in segments_info
        ]
        height, width = id_map.shape
        image_records.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "height": height, "width": width})
        annotations.append({"image_id": image_id, "file_name": file_name, "segments_info": segments})
    json_path = os.path.join(folder, f"{name}.json")
    with open(json_path, "w") as f:
        json.dump({"images": image_records, "annotations": annotations, "categories": categories}, f)
    return json_path, png_folder


def generate(folder, n_images, height, width, seed=0):
    """Generated ground truth and predictions in ``folder``; returns their (json, png folder) pairs."""
    categories = json.loads(CATEGORIES_JSON.read_text())
    rng = np.random.default_rng(seed)
    pairs = [synthetic_image(rng, height, width, categories) for _ in range(n_images)]
    gt = write_coco_panoptic(folder, "gt", [(i + 1, *p[0]) for i, p in enumerate(pairs)], categories)
    pred = write_coco_panoptic(folder, "pred", [(i + 1, *p[1]) for i, p in enumerate(pairs)], categories)
    return gt, pred


def max_difference(ours: dict, reference: dict) -> float:
    differences = [abs(ours[g][k] - reference[g][k]) for g in ("All", "Things", "Stuff") for k in ("pq", "sq", "rq", "n")]
    for category_id, values in reference["per_class"].items():
        differences += [abs(ours["per_class"][str(category_id)][k] - values[k]) for k in ("pq", "sq", "rq")]
    return max(differences)


def decode_all(paths, threads: int) -> int:
    """Decode every PNG to a numpy array with PIL (which releases the GIL while decoding); return the pixel count."""
    def decode(path):
        with Image.open(path) as image:
            return np.asarray(image).size

    if threads == 1:
        return sum(map(decode, paths))
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(decode, paths))


def main():
    args = parse_size_arguments(__doc__, 200, 480, 640)
    from panopticapi.evaluation import pq_compute as panopticapi_pq_compute

    with tempfile.TemporaryDirectory(prefix="bench_pq_cli") as folder:
        (gt_json, gt_folder), (pred_json, pred_folder) = generate(folder, args.images, args.height, args.width)
        output_json = os.path.join(folder, "pq.json")
        command = [sys.executable, "-m", "panfpn_lite.pq", "--gt_json_file", gt_json, "--pred_json_file",
                   pred_json, "--gt_folder", gt_folder, "--pred_folder", pred_folder, "--output-json", output_json]
        cli_seconds, completed = best_of(
            args.repeats, lambda: subprocess.run(command, capture_output=True, text=True, check=True)
        )
        # The CLI's start-up alone: the interpreter, its imports and loading hotcoco the way the
        # command does (no torch, no detectron2), process exit included.
        startup_command = [sys.executable, "-c", "from panfpn_lite.pq import panoptic_eval_class; panoptic_eval_class()"]
        startup_seconds, _ = best_of(
            args.repeats, lambda: subprocess.run(startup_command, check=True, capture_output=True)
        )
        from panfpn_lite.pq import pq_compute

        with contextlib.redirect_stdout(io.StringIO()):
            in_process_seconds, in_process = best_of(
                args.repeats, lambda: pq_compute(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder)
            )
            panopticapi_seconds, reference = best_of(
                args.repeats,
                lambda: panopticapi_pq_compute(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder),
            )
        with open(output_json) as f:
            ours = json.load(f)
        # The floor for any PQ command reading these files: decoding the PNGs alone.
        pngs = sorted(Path(gt_folder).glob("*.png")) + sorted(Path(pred_folder).glob("*.png"))
        decode_seconds = {threads: best_of(args.repeats, lambda: decode_all(pngs, threads))[0] for threads in (1, 2)}

    difference = max(max_difference(ours, reference), max_difference(json.loads(json.dumps(in_process)), reference))
    print(completed.stdout.strip().split("Prediction:")[0].strip().splitlines()[0])
    print("\n".join(line for line in completed.stdout.splitlines() if "|" in line or line.startswith("---")))
    print(machine_header())
    print(f"{args.images} PNG pairs of {args.height}x{args.width}, best of {args.repeats} runs each")
    print(f"panopticapi pq_compute (in process):              {panopticapi_seconds:.2f} s")
    print(f"panfpn_lite.pq.pq_compute (in process):  {in_process_seconds:.2f} s"
          f"  -> speed-up {panopticapi_seconds / in_process_seconds:.1f}x")
    print(f"panfpn_lite.pq CLI (whole process):      {cli_seconds:.2f} s"
          f"  -> speed-up {panopticapi_seconds / cli_seconds:.1f}x")
    print(f"  of which start-up (interpreter and imports): {startup_seconds:.2f} s")
    for threads, seconds in decode_seconds.items():
        print(f"decoding the {len(pngs)} PNGs alone with PIL, {threads} thread(s): {seconds:.2f} s"
              f"  (CLI / decoding: {cli_seconds / seconds:.2f})")
    print(f"max |difference| over All/Things/Stuff and per class: {difference:.3g}")
    require_equal(difference)


if __name__ == "__main__":
    main()
