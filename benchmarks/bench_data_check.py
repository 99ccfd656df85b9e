"""Benchmark: ``panfpn-data check`` (check_dataset) on a generated COCO panoptic dataset of
COCO-sized images (JPEG images, panoptic PNGs of ~20 segments), with 1 and with 2 processes.

    python benchmarks/bench_data_check.py [--images 500] [--height 480] [--width 640] [--repeats 1]
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_header  # noqa: E402
from bench_pq_cli import CATEGORIES_JSON, best_of, parse_size_arguments, synthetic_image, write_coco_panoptic  # noqa: E402

from panfpn_lite.data_tools.check import check_dataset  # noqa: E402


def generate_dataset(folder: str, n_images: int, height: int, width: int):
    """(json, png folder, image folder) of a generated dataset: bench_pq_cli's ground truth, with JPEGs."""
    import json

    categories = json.loads(CATEGORIES_JSON.read_text())
    rng = np.random.default_rng(0)
    images = [(i + 1, *synthetic_image(rng, height, width, categories)[0]) for i in range(n_images)]
    json_file, png_dir = write_coco_panoptic(folder, "gt", images, categories)
    image_dir = os.path.join(folder, "images")
    os.makedirs(image_dir)
    for image_id, *_ in images:
        pixels = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((width, height)).save(os.path.join(image_dir, f"{image_id:012d}.jpg"), quality=90)
    return json_file, png_dir, image_dir


def main():
    args = parse_size_arguments(__doc__, images=500, height=480, width=640)
    print(machine_header())
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        json_file, png_dir, image_dir = generate_dataset(folder, args.images, args.height, args.width)
        print(f"generated {args.images} images of {args.width}x{args.height} in {time.perf_counter() - start:.1f} s")
        for workers in (1, 2):
            seconds, result = best_of(args.repeats, lambda: check_dataset(json_file, png_dir, image_dir, workers))
            if result.errors:
                raise SystemExit(f"the generated dataset has errors: {result.errors[:3]}")
            rate = args.images / seconds
            print(f"check, {workers} process(es): {seconds:.2f} s, {rate:.1f} images/s "
                  f"(5,000 images: {5000 / rate / 60:.1f} min)")


if __name__ == "__main__":
    main()
