"""Benchmark: instance AP through hotcoco's COCOeval vs pycocotools' COCOeval on the same
generated ground truth and detections (``bbox`` and ``segm``), results checked equal.

    python benchmarks/bench_instance_ap.py [--images 500] [--height 240] [--width 320]
"""
import contextlib
import io
import sys
from pathlib import Path

import numpy as np
from hotcoco import mask as hotcoco_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pq_cli import best_of, parse_size_arguments, require_equal  # noqa: E402
from common import machine_header  # noqa: E402

from panfpn_d2.evaluation.instance_evaluation import coco_ap  # noqa: E402

CLASS_IDS = (1, 3, 18, 44)


def synthetic_instances(n_images, height, width, seed=0):
    """COCO ground truth (boxes as masks, some crowd) and 4 scored detections per instance
    (jittered, some of another class), as RLE + box."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "height": height, "width": width} for i in range(n_images)]
    annotations, detections = [], []
    for image in images:
        for k in range(int(rng.integers(4, 12))):
            h, w = int(rng.integers(6, height // 2)), int(rng.integers(6, width // 2))
            y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
            mask = np.zeros((height, width), dtype=np.uint8, order="F")
            mask[y:y + h, x:x + w] = 1
            category = int(rng.choice(CLASS_IDS))
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": category,
                                "segmentation": hotcoco_mask.encode(mask), "area": h * w,
                                "bbox": [x, y, w, h], "iscrowd": int(k == 0 and rng.random() < 0.3)})
            for j in range(4):
                dy, dx = rng.integers(-h // 3 - 1, h // 3 + 2), rng.integers(-w // 3 - 1, w // 3 + 2)
                y2, x2 = int(np.clip(y + dy, 0, height - h)), int(np.clip(x + dx, 0, width - w))
                mask = np.zeros((height, width), dtype=np.uint8, order="F")
                mask[y2:y2 + h, x2:x2 + w] = 1
                detections.append({"image_id": image["id"],
                                   "category_id": category if j < 3 else int(rng.choice(CLASS_IDS)),
                                   "bbox": [float(x2), float(y2), float(w), float(h)],
                                   "segmentation": hotcoco_mask.encode(mask), "score": float(rng.random())})
    categories = [{"id": c, "name": f"class{c}"} for c in CLASS_IDS]
    return {"images": images, "annotations": annotations, "categories": categories}, detections


def main():
    args = parse_size_arguments(__doc__, 500, 240, 320)
    ground_truth, detections = synthetic_instances(args.images, args.height, args.width)
    names = [c["name"] for c in ground_truth["categories"]]
    print(machine_header())
    print(f"{args.images} images, {len(ground_truth['annotations'])} GT instances, {len(detections)} detections, "
          f"best of {args.repeats} runs each")
    worst = 0.0
    for task in ("bbox", "segm"):
        seconds, results = {}, {}
        for backend in ("pycocotools", "hotcoco"):
            with contextlib.redirect_stdout(io.StringIO()):  # both print the same 12-line summary
                seconds[backend], (results[backend], _) = best_of(
                    args.repeats, lambda: coco_ap(ground_truth, detections, task, names, backend)
                )
        difference = max(abs(results["hotcoco"][k] - results["pycocotools"][k]) for k in results["pycocotools"])
        worst = max(worst, difference)
        print(f"{task}: AP {results['hotcoco']['AP']:.3f}  pycocotools {seconds['pycocotools']:.2f} s, "
              f"hotcoco {seconds['hotcoco']:.2f} s, speed-up {seconds['pycocotools'] / seconds['hotcoco']:.1f}x, "
              f"max |difference| (percent, incl. per class) {difference:.3g}")
    require_equal(worst)


if __name__ == "__main__":
    main()
