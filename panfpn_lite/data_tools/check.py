"""Check a COCO panoptic dataset (JSON + PNG folder + image folder) before training.

Every problem is reported, each naming its file and id, not only the first; then per-category
statistics and the class counts the model needs for each thing mode.
"""
import colorsys
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

import numpy as np
from PIL import Image

from ..panoptic_format import MAX_SEGMENT_ID, read_panoptic_png
from .categories import category_problems, config_keys
from .segments import default_workers, map_in_processes, segment_geometry


@dataclass
class CategoryStats:
    segments: int = 0
    crowd: int = 0
    pixels: int = 0
    images: Set = field(default_factory=set)


@dataclass
class ImageTask:
    """One annotated image: its files, the JSON's size and its segments (id, category id, area, bbox)."""

    png_file: str
    image_file: str
    height: int
    width: int
    segments: List[Tuple[int, int, Optional[int], Optional[list]]]


@dataclass
class CheckResult:
    errors: List[str]
    categories: List[dict] = field(default_factory=list)
    stats: Dict[int, CategoryStats] = field(default_factory=dict)
    num_images: int = 0
    num_annotations: int = 0
    pixels: int = 0
    void_pixels: int = 0
    tasks: List[ImageTask] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_image_size(image_file: str) -> Tuple[int, int]:
    """(width, height) of an image, decoded in full (JPEGs at 1/8 scale: a truncated file still fails)."""
    try:
        with Image.open(image_file) as image:
            size = image.size
            image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()
    except FileNotFoundError:
        raise FileNotFoundError(f"image {image_file} does not exist") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"image {image_file} cannot be read: {e}") from e
    return size


def check_image(task: ImageTask):
    """(problems, {listed segment id: PNG area}, pixels, void pixels) of one image's PNG and image file."""
    problems = []
    try:
        image_width, image_height = read_image_size(task.image_file)
    except (FileNotFoundError, ValueError) as e:
        problems.append(str(e))
        image_width = image_height = None
    try:
        id_map = read_panoptic_png(task.png_file)
    except (FileNotFoundError, ValueError) as e:
        return problems + [str(e)], {}, 0, 0
    height, width = id_map.shape
    if (height, width) != (task.height, task.width):
        problems.append(
            f"{task.png_file}: PNG is {width}x{height} but the JSON gives its image {task.width}x{task.height}"
        )
    if image_width is not None and (image_height, image_width) != (height, width):
        problems.append(f"{task.image_file}: image is {image_width}x{image_height} but its PNG {task.png_file} is {width}x{height}")
    geometry = segment_geometry(id_map)
    listed = {segment_id for segment_id, *_ in task.segments}
    for segment_id in sorted(set(geometry) - listed - {0}):
        problems.append(
            f"{task.png_file}: PNG segment id {segment_id} ({geometry[segment_id][0]} pixels) is not in the JSON's segments_info"
        )
    areas = {}
    for segment_id, category_id, area, bbox in task.segments:
        if segment_id not in geometry:
            problems.append(
                f"{task.png_file}: segment {segment_id} (category {category_id}) of the JSON's segments_info is not in the PNG"
            )
            continue
        png_area, png_bbox = geometry[segment_id]
        areas[segment_id] = png_area
        if area is not None and area != png_area:
            problems.append(f"{task.png_file}: segment {segment_id} has area {area} in the JSON, {png_area} pixels in the PNG")
        if bbox is not None and [int(round(v)) for v in bbox] != png_bbox:
            problems.append(f"{task.png_file}: segment {segment_id} has bbox {bbox} in the JSON, {png_bbox} in the PNG")
    void = geometry.get(0, (0, None))[0]
    return problems, areas, height * width, void


def _read_dataset_json(json_file: str, errors: List[str]) -> Optional[dict]:
    try:
        with open(json_file) as f:
            content = json.load(f)
    except FileNotFoundError:
        errors.append(f"{json_file}: does not exist")
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        errors.append(f"{json_file}: cannot be read: {e}")
        return None
    if not isinstance(content, dict):
        errors.append(f"{json_file}: is not a JSON object (COCO panoptic format)")
        return None
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(content.get(key), list)]
    if missing:
        errors.append(f"{json_file}: has no list {missing} (not in COCO panoptic format)")
        return None
    return content


def _index_images(json_file: str, images: list, errors: List[str]) -> Dict:
    by_id, file_names = {}, {}
    for position, image in enumerate(images):
        missing = [k for k in ("id", "file_name", "height", "width") if not isinstance(image, dict) or k not in image]
        if missing:
            errors.append(f"{json_file}: image #{position} has no {missing}")
            continue
        if image["id"] in by_id:
            errors.append(f"{json_file}: image id {image['id']!r} appears more than once")
            continue
        if image["file_name"] in file_names:
            errors.append(
                f"{json_file}: image file name {image['file_name']} is used by image ids "
                f"{file_names[image['file_name']]!r} and {image['id']!r}"
            )
        file_names[image["file_name"]] = image["id"]
        by_id[image["id"]] = image
    return by_id


def _segment_entries(json_file, annotation, known_categories, errors) -> List[Tuple[int, int, Optional[int], Optional[list], int]]:
    """The usable segments of an annotation: (id, category id, area, bbox, iscrowd); problems into ``errors``."""
    png = annotation["file_name"]
    entries, seen = [], set()
    for position, segment in enumerate(annotation["segments_info"]):
        where = f"{json_file}: {png}: segment #{position}"
        if not isinstance(segment, dict) or "id" not in segment or "category_id" not in segment:
            errors.append(f"{where} has no 'id' or 'category_id'")
            continue
        segment_id, category_id = segment["id"], segment["category_id"]
        if not isinstance(segment_id, int) or not 0 < segment_id <= MAX_SEGMENT_ID:
            errors.append(f"{where} has id {segment_id!r}; segment ids are integers in [1, 256**3)")
            continue
        if segment_id in seen:
            errors.append(f"{json_file}: {png}: segment id {segment_id} appears more than once in segments_info")
            continue
        seen.add(segment_id)
        if category_id not in known_categories:
            errors.append(f"{json_file}: {png}: segment {segment_id} has category_id {category_id!r}, not in 'categories'")
        iscrowd = segment.get("iscrowd", 0)
        if iscrowd not in (0, 1):
            errors.append(f"{json_file}: {png}: segment {segment_id} has iscrowd {iscrowd!r}; expected 0 or 1")
        entries.append((segment_id, category_id, segment.get("area"), segment.get("bbox"), int(iscrowd == 1)))
    return entries


def check_dataset(json_file: str, png_dir: str, image_dir: str, workers: int = 0) -> CheckResult:
    """Every problem of a COCO panoptic dataset, its per-category statistics and its files per image."""
    errors: List[str] = []
    content = _read_dataset_json(json_file, errors)
    if content is None:
        return CheckResult(errors)
    categories = content["categories"]
    errors.extend(category_problems(categories, json_file))
    known_categories = {c["id"]: c for c in categories if isinstance(c, dict) and "id" in c}
    images = _index_images(json_file, content["images"], errors)

    annotated: Dict = {}
    png_names: Dict[str, object] = {}
    tasks, segment_lists = [], []
    for position, annotation in enumerate(content["annotations"]):
        missing = [k for k in ("image_id", "file_name", "segments_info") if not isinstance(annotation, dict) or k not in annotation]
        if missing:
            errors.append(f"{json_file}: annotation #{position} has no {missing}")
            continue
        image_id, png = annotation["image_id"], annotation["file_name"]
        if image_id not in images:
            errors.append(f"{json_file}: annotation {png} refers to image id {image_id!r}, which is not in 'images'")
            continue
        if image_id in annotated:
            errors.append(f"{json_file}: image id {image_id!r} has more than one annotation ({annotated[image_id]}, {png})")
            continue
        if png in png_names:
            errors.append(f"{json_file}: PNG file name {png} is used by image ids {png_names[png]!r} and {image_id!r}")
            continue
        annotated[image_id], png_names[png] = png, image_id
        entries = _segment_entries(json_file, annotation, known_categories, errors)
        image = images[image_id]
        tasks.append(ImageTask(
            os.path.join(png_dir, png), os.path.join(image_dir, image["file_name"]), image["height"], image["width"],
            [entry[:4] for entry in entries],
        ))
        segment_lists.append((image_id, entries))
    for image_id, image in images.items():
        if image_id not in annotated:
            errors.append(f"{json_file}: image {image['file_name']} (id {image_id!r}) has no annotation")

    stats = {c["id"]: CategoryStats() for c in known_categories.values()}
    result = CheckResult(errors, categories, stats, len(images), len(content["annotations"]), tasks=tasks)
    checked = map_in_processes(check_image, tasks, workers or default_workers())
    for (image_id, entries), (problems, areas, pixels, void) in zip(segment_lists, checked):
        errors.extend(problems)
        result.pixels += pixels
        result.void_pixels += void
        for segment_id, category_id, _, _, iscrowd in entries:
            if category_id in stats:
                category = stats[category_id]
                category.segments += 1
                category.crowd += iscrowd
                category.pixels += areas.get(segment_id, 0)
                category.images.add(image_id)
    return result


def format_report(result: CheckResult) -> str:
    lines = [f"ERROR {error}" for error in result.errors]
    if result.categories:
        lines.append(
            f"{result.num_images} images, {result.num_annotations} annotations, {len(result.categories)} categories; "
            f"{result.pixels} pixels, {100.0 * result.void_pixels / max(result.pixels, 1):.2f}% void"
        )
        header = ("id", "name", "kind", "segments", "crowd", "images", "pixel share %")
        rows = []
        for category in result.categories:
            if not isinstance(category, dict) or category.get("id") not in result.stats:
                continue
            stats = result.stats[category["id"]]
            kind = {1: "thing", 0: "stuff"}.get(category.get("isthing"), "?")
            share = 100.0 * stats.pixels / max(result.pixels, 1)
            rows.append((str(category["id"]), str(category.get("name")), kind, str(stats.segments),
                         str(stats.crowd), str(len(stats.images)), f"{share:.2f}"))
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        for row in [header] + rows:
            lines.append("  ".join(cell.rjust(w) if i >= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if not category_problems(result.categories, ""):
            lines.append("config keys the dataset needs:")
            for mode, keys in config_keys(result.categories).items():
                settings = " ".join(f"{k} {v}" for k, v in keys.items())
                lines.append(f"  MODEL.PANFPN.SEM_SEG_THING_MODE {mode}: {settings}")
    lines.append(f"{len(result.errors)} error(s)")
    return "\n".join(lines)


def segment_colors(count: int) -> np.ndarray:
    """``count`` well-separated RGB colours (golden-ratio hue steps), (count, 3) uint8."""
    colors = [colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.8, 0.95) for k in range(count)]
    return (255 * np.array(colors, dtype=np.float32).reshape(count, 3)).astype(np.uint8)


def write_overlay(task: ImageTask, output_file: str, alpha: float = 0.5) -> None:
    """The image with a colour per ground-truth segment blended over it and white segment borders."""
    id_map = read_panoptic_png(task.png_file)
    with Image.open(task.image_file) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    if pixels.shape[:2] != id_map.shape:
        raise ValueError(f"{task.image_file}: not the size of its PNG")
    ids = [segment_id for segment_id, *_ in task.segments]
    lookup = {segment_id: k for k, segment_id in enumerate(ids)}
    present, inverse = np.unique(id_map, return_inverse=True)
    index = np.array([lookup.get(int(i), -1) for i in present], dtype=np.int64)[inverse].reshape(id_map.shape)
    colors = segment_colors(len(ids)).astype(np.float32)
    labelled = index >= 0
    pixels[labelled] = (1 - alpha) * pixels[labelled] + alpha * colors[index[labelled]]
    border = np.zeros(id_map.shape, dtype=bool)
    border[:, 1:] |= id_map[:, 1:] != id_map[:, :-1]
    border[1:, :] |= id_map[1:, :] != id_map[:-1, :]
    pixels[border] = 255
    Image.fromarray(pixels.astype(np.uint8)).save(output_file)


def write_overlays(result: CheckResult, output_dir: str, count: int) -> List[str]:
    """Overlays of the first ``count`` images whose files read (named as their PNGs); the files written."""
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for task in result.tasks:
        if len(written) == count:
            break
        output_file = os.path.join(output_dir, os.path.basename(task.png_file))
        try:
            write_overlay(task, output_file)
        except (OSError, ValueError):
            continue  # reported by the check already
        written.append(output_file)
    return written
