"""The embedded toy panoptic dataset: solid shapes (things) on textured regions (stuff).

Generated deterministically (numpy only, fixed seed) on first use, in COCO panoptic format, into
``$PANFPN_TOY_ROOT`` (default ``~/.cache/panfpn_d2/toy_v3``), then read like any other dataset.

What makes it learnable yet not trivial:
  * things: circles (near-round ellipses), triangles and rotated rectangles of any aspect, 16 to
    56 px across, each a solid colour drawn around its class's base colour and never close to
    what it covers, several per image, painted in order so later ones partly occlude earlier ones;
  * stuff: noise-warped Voronoi regions whose class is the texture (stripes, checker, dots) at a
    random orientation, scale and colour pair; a few regions are unlabelled clutter (void);
  * pixel noise everywhere.
"""
import json
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from panfpn_lite.panoptic_format import id_to_rgb, segment_areas, segment_box

from .datasets import register_panoptic_dataset

TOY_VERSION = "toy_v3"
THING_CATEGORIES = [
    {"id": 1, "name": "circle", "isthing": 1, "color": [220, 20, 60]},
    {"id": 2, "name": "triangle", "isthing": 1, "color": [0, 130, 200]},
    {"id": 3, "name": "rectangle", "isthing": 1, "color": [255, 190, 0]},
]
# Stuff ids are not contiguous with the things' on purpose: datasets rarely are.
STUFF_CATEGORIES = [
    {"id": 11, "name": "stripes", "isthing": 0, "color": [60, 180, 75]},
    {"id": 12, "name": "checker", "isthing": 0, "color": [145, 30, 180]},
    {"id": 13, "name": "dots", "isthing": 0, "color": [170, 110, 40]},
]
# Each stuff texture is painted around its own base colour (+-50 per channel, so the
# classes' colours overlap): texture alone is slow to learn from scratch, colour alone does not
# tell every region apart.
STUFF_BASE_COLORS = {"stripes": (200.0, 90.0, 60.0), "checker": (70.0, 170.0, 80.0), "dots": (70.0, 100.0, 200.0)}
STUFF_COLOR_JITTER = 50.0
TOY_CATEGORIES = THING_CATEGORIES + STUFF_CATEGORIES
SPLITS = {"train": 600, "val": 100}
# Seed offsets keep the splits' random streams apart.
SPLIT_SEED = {"train": 0, "val": 1}

VOID_REGION_PROBABILITY = 0.08
NO_THING_PROBABILITY = 0.03
MAX_THINGS = 6
# Below ~16 px at 128x128 a circle, a square and a triangle differ by a few noisy pixels.
THING_DIAMETER_RANGE = (16.0, 56.0)
# Like the stuff, each thing class is painted around its own base colour (+-60 per channel): with
# colours that say nothing of the class, the quick start's schedule classified too few of the
# found shapes right (docs/toy.md).
THING_BASE_COLORS = {"circle": (230.0, 210.0, 50.0), "triangle": (210.0, 60.0, 210.0), "rectangle": (50.0, 200.0, 230.0)}
THING_COLOR_JITTER = 60.0
# A shape's colour differs from the mean colour of what it covers by at least this (Euclidean,
# RGB): a shape that blends into its background has no learnable outline.
MIN_THING_CONTRAST = 80.0
# A new shape may hide at most this fraction of an earlier shape's visible pixels.
MAX_OCCLUDED_FRACTION = 0.5
PIXEL_NOISE_STD = 6.0


def default_toy_root() -> Path:
    return Path(os.getenv("PANFPN_TOY_ROOT", str(Path("~/.cache/panfpn_d2").expanduser() / TOY_VERSION)))


def _smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A smooth random field in [-1, 1]: a (cells+1)² grid of values, bilinearly interpolated."""
    grid = rng.uniform(-1.0, 1.0, (cells + 1, cells + 1))
    position = (np.arange(size) + 0.5) * (cells / size)
    cell = np.minimum(position.astype(np.int64), cells - 1)
    frac = position - cell
    rows = grid[cell] * (1 - frac)[:, None] + grid[cell + 1] * frac[:, None]  # (size, cells+1)
    return rows[:, cell] * (1 - frac)[None, :] + rows[:, cell + 1] * frac[None, :]


def _color_pair(rng: np.random.Generator, base: Optional[Tuple[float, float, float]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Two colours of clearly different brightness: random hues, or around ``base``."""
    if base is None:
        first = rng.uniform(20, 235, 3)
    else:
        first = np.clip(np.asarray(base) + rng.uniform(-STUFF_COLOR_JITTER, STUFF_COLOR_JITTER, 3), 0, 255)
    shift = rng.uniform(70, 110) * (1 if first.mean() < 128 else -1)
    second = np.clip(first + shift + rng.uniform(-40, 40, 3), 0, 255)
    return first, second


def _thing_color(rng: np.random.Generator, name: str, background: np.ndarray) -> np.ndarray:
    """A solid colour around the base colour of thing class ``name``, at least
    ``MIN_THING_CONTRAST`` away from ``background``."""
    base = np.asarray(THING_BASE_COLORS[name])
    # Even clipped, the jitter box is wider than the rejected ball (diameter 160): some draw passes.
    while True:
        color = np.clip(base + rng.uniform(-THING_COLOR_JITTER, THING_COLOR_JITTER, 3), 0, 255)
        if np.linalg.norm(color - background) >= MIN_THING_CONTRAST:
            return color


def _texture(rng: np.random.Generator, name: str, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The boolean two-colour pattern of a stuff texture, at a random orientation and scale."""
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    if name == "stripes":
        return np.sin(2 * np.pi * u / rng.uniform(6, 10)) > 0
    if name == "checker":
        period = rng.uniform(4, 8)
        return (np.floor(u / period) + np.floor(v / period)) % 2 == 0
    if name == "dots":
        period = rng.uniform(6, 9)
        du = (u / period) % 1.0 - 0.5
        dv = (v / period) % 1.0 - 0.5
        return du**2 + dv**2 < rng.uniform(0.05, 0.1)
    raise ValueError(f"unknown texture {name!r}")


def _shape_mask(rng: np.random.Generator, name: str, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The boolean mask of one thing shape: random size (log-uniform diameter), aspect, angle, place."""
    size = yy.shape[0]
    low, high = THING_DIAMETER_RANGE
    radius = 0.5 * np.exp(rng.uniform(np.log(low), np.log(high)))
    cy, cx = rng.uniform(0.3 * radius, size - 0.3 * radius, 2)
    angle = rng.uniform(0, 2 * np.pi)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    if name == "circle":
        aspect = rng.uniform(0.85, 1.15)
        return (u / (radius * aspect)) ** 2 + (v * aspect / radius) ** 2 <= 1
    if name == "rectangle":
        aspect = np.exp(rng.uniform(np.log(0.4), np.log(2.5)))
        half_w, half_h = radius * np.sqrt(aspect) * 0.8, radius / np.sqrt(aspect) * 0.8
        return (np.abs(u) <= half_w) & (np.abs(v) <= half_h)
    if name == "triangle":
        corner_angles = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.35, 0.35, 3)
        stretch = np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
        corners = np.stack([np.cos(corner_angles) * radius * stretch, np.sin(corner_angles) * radius / stretch], 1)
        inside = np.ones_like(u, dtype=bool)
        for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0)):  # counter-clockwise edges
            inside &= (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) >= 0
        return inside
    raise ValueError(f"unknown shape {name!r}")


def _stuff_layout(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> List[np.ndarray]:
    """Noise-warped Voronoi cells, returned as one boolean mask per cell."""
    num_cells = int(rng.integers(3, 7))
    seeds = rng.uniform(0, size, (num_cells, 2))
    warp = 0.22 * size
    wy = yy + warp * _smooth_field(rng, size, 4)
    wx = xx + warp * _smooth_field(rng, size, 4)
    distance = (wy[None] - seeds[:, 0, None, None]) ** 2 + (wx[None] - seeds[:, 1, None, None]) ** 2
    nearest = distance.argmin(axis=0)
    return [nearest == k for k in range(num_cells)]


def render_toy_image(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """One toy image: (RGB uint8 image, segment-id map, segments [{id, category_id, iscrowd}])."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    image = np.zeros((size, size, 3), dtype=np.float64)
    id_map = np.zeros((size, size), dtype=np.int64)
    segments = []

    stuff_pixels = {}
    for cell in _stuff_layout(rng, size, yy, xx):
        if rng.random() < VOID_REGION_PROBABILITY:
            first, second = _color_pair(rng)
            pattern = rng.random((size, size)) < 0.5  # unlabelled clutter
        else:
            category = STUFF_CATEGORIES[int(rng.integers(len(STUFF_CATEGORIES)))]
            first, second = _color_pair(rng, STUFF_BASE_COLORS[category["name"]])
            pattern = _texture(rng, category["name"], yy, xx)
            stuff_pixels[category["id"]] = stuff_pixels.get(category["id"], False) | cell
        image[cell] = np.where(pattern[cell, None], first, second)
    # COCO panoptic: one segment per stuff class per image, however many regions it covers.
    for category_id, mask in stuff_pixels.items():
        segment_id = category_id * 1000
        id_map[mask] = segment_id
        segments.append({"id": segment_id, "category_id": category_id, "iscrowd": 0})

    num_things = 0 if rng.random() < NO_THING_PROBABILITY else int(rng.integers(1, MAX_THINGS + 1))
    for k in range(1, num_things + 1):
        category = THING_CATEGORIES[int(rng.integers(len(THING_CATEGORIES)))]
        for _ in range(10):  # re-draw a shape that would hide too much of an earlier one
            mask = _shape_mask(rng, category["name"], yy, xx)
            if not mask.any():
                continue
            covered = np.bincount(id_map[mask], minlength=1)
            visible = np.bincount(id_map.ravel(), minlength=len(covered))[: len(covered)]
            earlier_things = np.arange(len(covered)) % 1000 != 0  # stuff ids are multiples of 1000
            if not (earlier_things & (covered > MAX_OCCLUDED_FRACTION * visible)).any():
                break
        else:
            continue
        segment_id = category["id"] * 1000 + k
        id_map[mask] = segment_id
        image[mask] = _thing_color(rng, category["name"], image[mask].mean(axis=0))
        segments.append({"id": segment_id, "category_id": category["id"], "iscrowd": 0})

    # A fully occluded stuff region or shape leaves no pixel: list only what is visible.
    present = set(np.unique(id_map).tolist())
    segments = [s for s in segments if s["id"] in present]
    image += rng.normal(0, PIXEL_NOISE_STD, image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8), id_map, segments


def _write_image(root: Path, split: str, index: int, size: int, seed: int) -> Tuple[dict, dict]:
    """Render and write one image and its panoptic PNG; returns its JSON image and annotation entries."""
    rng = np.random.default_rng([seed, SPLIT_SEED[split], index])
    image, id_map, segments = render_toy_image(rng, size)
    file_name = f"toy_{split}_{index:06d}.png"
    Image.fromarray(image).save(root / split / "images" / file_name, compress_level=1)
    Image.fromarray(id_to_rgb(id_map)).save(root / split / "panoptic" / file_name, compress_level=1)
    areas = segment_areas(id_map, [s["id"] for s in segments])
    for segment in segments:
        segment["area"], segment["bbox"] = areas[segment["id"]], segment_box(id_map == segment["id"])
    image_entry = {"id": index + 1, "file_name": file_name, "height": size, "width": size}
    return image_entry, {"image_id": index + 1, "file_name": file_name, "segments_info": segments}


def _write_splits(root: Path, counts: Dict[str, int], size: int, seed: int, workers: int) -> None:
    tasks = [(root, split, index, size, seed) for split, count in counts.items() for index in range(count)]
    for split in counts:
        (root / split / "images").mkdir(parents=True)
        (root / split / "panoptic").mkdir(parents=True)
    # Every image has its own random stream, so the files do not depend on the number of workers.
    # Forked workers: spawned ones would re-import torch and detectron2 (seconds) for a 12 s job.
    workers = min(workers, len(tasks)) if "fork" in multiprocessing.get_all_start_methods() else 1
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            written = list(pool.map(_write_image, *zip(*tasks), chunksize=-(-len(tasks) // workers)))
    else:
        written = [_write_image(*task) for task in tasks]
    start = 0
    for split, count in counts.items():  # the entries come back in the tasks' order
        entries = written[start:start + count]
        start += count
        content = {
            "info": {"description": f"panfpn_d2 toy panoptic dataset ({TOY_VERSION}, seed {seed})"},
            "images": [image for image, _ in entries],
            "annotations": [annotation for _, annotation in entries],
            "categories": TOY_CATEGORIES,
        }
        with open(root / f"panoptic_{split}.json", "w") as f:
            json.dump(content, f, sort_keys=True)


def generate_toy_dataset(
    root: Path,
    *,
    num_train: int = SPLITS["train"],
    num_val: int = SPLITS["val"],
    size: int = 128,
    seed: int = 0,
    workers: Optional[int] = None,
) -> Path:
    """Write the toy dataset to ``root`` unless it is already there; returns ``root``.

    ``workers`` processes render the images (default: one per CPU core). Written to a temporary
    sibling folder and renamed into place, so a generation that is killed, or that races another
    process, never leaves a partial dataset at ``root``.
    """
    root = Path(root)
    if root.is_dir():
        return root
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"generate_toy_dataset: workers must be at least 1, got {workers}")
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        _write_splits(scratch, {"train": num_train, "val": num_val}, size, seed, workers)
        try:
            os.rename(scratch, root)
        except OSError:
            if not root.is_dir():  # not lost to a concurrent generation: a real failure
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return root


def register_toy_datasets(root: Optional[Path] = None, name_prefix: str = "panfpn_toy") -> None:
    """Register ``<name_prefix>_train`` / ``_val``; the files are generated when first loaded."""
    root = Path(root) if root is not None else default_toy_root()
    for split in SPLITS:
        register_panoptic_dataset(
            f"{name_prefix}_{split}",
            str(root / f"panoptic_{split}.json"),
            str(root / split / "images"),
            str(root / split / "panoptic"),
            categories=TOY_CATEGORIES,
            prepare=lambda: generate_toy_dataset(root),
        )
