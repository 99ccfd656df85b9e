"""Convert panoptic data to COCO panoptic (a JSON + a folder of PNGs).

Two layouts:

* semantic + instance PNGs (Cityscapes, Mapillary Vistas, ADE20K style): per image a category id
  per pixel and an instance number per pixel (0: none; read for thing categories only). A thing
  pixel with instance 0 belongs to its category's crowd segment. With ``cityscapes_ids`` the
  instance PNG is Cityscapes' ``*_instanceIds.png`` (labelId·1000 + instance for instances, the
  bare labelId elsewhere), and the segments are exactly createPanopticImgs' (ids included).
* COCO instances (polygons or RLE) + semantic PNGs for stuff (COCO-Stuff style). Overlaps are
  resolved by two rules: of overlapping instances the smaller (by its own mask area) is on top
  (ties: the later annotation); instances are on top of stuff. Thing-category pixels of the
  semantic PNG that no instance covers are void. The pixels each rule touched are counted.

Every problem of the input is reported (naming its file) and then nothing is written; the output
is staged in a temporary folder next to it and moved into place only when every image converted.
"""
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Collection, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..panoptic_format import MAX_SEGMENT_ID, write_panoptic_png
from .check import read_image_size
from .segments import default_workers, map_in_processes, segment_geometry

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
CITYSCAPES_LABEL_DIVISOR = 1000
COCO_STUFF_RULES = (
    "instance pixels also claimed by a larger instance (the smaller one is on top)",
    "instance pixels over a stuff label (instances are on top of stuff)",
    "thing-category pixels of the semantic PNG no instance covers (void)",
)


class ConversionError(ValueError):
    """Every problem met in a conversion's input, one per line, each naming its file."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class LabelSample:
    """One image of the semantic + instance layout: its id, files, and the names the JSON gives them."""

    image_id: object
    image_file: str
    semantic_file: str
    instance_file: str
    image_name: str
    png_name: str


def read_label_png(path: str, what: str) -> np.ndarray:
    """The (H, W) int64 values of a single-channel PNG (8 or 16 bit, palette indices, or 32-bit)."""
    try:
        with Image.open(path) as png:
            if png.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
                raise ValueError(f"{what} {path} has mode {png.mode}; expected a single-channel PNG of ids")
            return np.asarray(png).astype(np.int64)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{what} {path} cannot be read: {e}") from e


def _size_problems(shapes: Dict[str, Tuple[int, int]]) -> List[str]:
    """A problem naming every file if the (height, width) of the files differ."""
    if len(set(shapes.values())) <= 1:
        return []
    listed = ", ".join(f"{path} {w}x{h}" for path, (h, w) in shapes.items())
    return [f"sizes differ: {listed}"]


def _unknown_value_problems(values: np.ndarray, known: Collection[int], path: str, what: str) -> List[str]:
    found, counts = np.unique(values, return_counts=True)
    unknown = [(int(v), int(c)) for v, c in zip(found, counts) if int(v) not in known]
    if not unknown:
        return []
    listed = ", ".join(f"{v} ({c} pixels)" for v, c in unknown)
    return [f"{path}: {what} {listed} not in the category table nor ignored"]


def _segments_info(id_map: np.ndarray, category_of: Dict[int, int], crowd: Collection[int]) -> List[dict]:
    geometry = segment_geometry(id_map)
    return [
        {"id": segment_id, "category_id": int(category_of[segment_id]), "iscrowd": int(segment_id in crowd),
         "area": area, "bbox": bbox}
        for segment_id, (area, bbox) in sorted(geometry.items()) if segment_id != 0
    ]


def label_segments(
    semantic: np.ndarray, instance: np.ndarray, categories: Dict[int, dict], void_ids: Collection[int],
    cityscapes_ids: bool, semantic_file: str, instance_file: str,
) -> Tuple[Optional[np.ndarray], List[dict], List[str]]:
    """(segment-id map, segments_info, problems) of one image's semantic and instance maps."""
    void_ids = set(void_ids)
    known = set(categories) | void_ids
    thing_ids = [c for c, category in categories.items() if category["isthing"]]
    if cityscapes_ids:
        # createPanopticImgs' reading: the instanceIds PNG alone says the category and the segment.
        category = np.where(instance >= CITYSCAPES_LABEL_DIVISOR, instance // CITYSCAPES_LABEL_DIVISOR, instance)
        problems = _unknown_value_problems(category, known, instance_file, "label ids")
        disagree = int(np.count_nonzero((category != semantic) & ~np.isin(semantic, list(void_ids))))
        if disagree:
            problems.append(
                f"{instance_file}: {disagree} pixels have a label id (instance id // 1000) other than "
                f"{semantic_file}'s"
            )
        if 0 in categories and np.any(instance == 0):
            problems.append(f"{instance_file}: category 0 cannot be a segment with --cityscapes-ids (id 0 is void)")
        if problems:
            return None, [], problems
        id_map = np.where(np.isin(category, list(void_ids)), 0, instance)
        present = np.unique(id_map)
        category_of = {int(s): int(s // CITYSCAPES_LABEL_DIVISOR if s >= CITYSCAPES_LABEL_DIVISOR else s) for s in present}
        crowd = {s for s, c in category_of.items() if s < CITYSCAPES_LABEL_DIVISOR and categories.get(c, {}).get("isthing")}
        return id_map, _segments_info(id_map, category_of, crowd), []

    problems = _unknown_value_problems(semantic, known, semantic_file, "category ids")
    if problems:
        return None, [], problems
    # A segment is a (category, instance number) pair; stuff pixels take instance 0.
    instance = np.where(np.isin(semantic, thing_ids), instance, 0)
    pairs = semantic * (int(instance.max()) + 1) + instance
    pairs[np.isin(semantic, list(void_ids))] = -1
    keys, inverse = np.unique(pairs, return_inverse=True)
    has_void = keys[0] == -1
    segment_ids = np.arange(len(keys)) + (0 if has_void else 1)
    if len(keys) - has_void > MAX_SEGMENT_ID:
        return None, [], [f"{semantic_file}: more segments than a COCO panoptic PNG holds"]
    id_map = segment_ids[inverse].reshape(semantic.shape)
    divisor = int(instance.max()) + 1
    category_of = {int(s): int(k // divisor) for s, k in zip(segment_ids, keys) if k >= 0}
    crowd = {int(s) for s, k in zip(segment_ids, keys) if k >= 0 and k % divisor == 0 and categories[int(k // divisor)]["isthing"]}
    return id_map, _segments_info(id_map, category_of, crowd), []


@dataclass
class OutputSettings:
    """What every image of a conversion shares: the category table, the void ids, the staged PNG folder."""

    categories: Dict[int, dict]
    void_ids: Tuple[int, ...]
    png_dir: str


@dataclass
class LabelJob:
    sample: LabelSample
    cityscapes_ids: bool
    settings: OutputSettings


def convert_label_sample(job: LabelJob):
    """(image record, annotation, problems) of one sample; its PNG is written into the staged folder."""
    sample = job.sample
    problems, shapes = [], {}
    try:
        width, height = read_image_size(sample.image_file)
        shapes[sample.image_file] = (height, width)
    except (FileNotFoundError, ValueError) as e:
        problems.append(str(e))
    maps = {}
    for what, path in (("semantic PNG", sample.semantic_file), ("instance PNG", sample.instance_file)):
        try:
            maps[what] = read_label_png(path, what)
            shapes[path] = maps[what].shape
        except (FileNotFoundError, ValueError) as e:
            problems.append(str(e))
    problems += _size_problems(shapes)
    if problems:
        return None, None, problems
    settings = job.settings
    id_map, segments, problems = label_segments(
        maps["semantic PNG"], maps["instance PNG"], settings.categories, settings.void_ids, job.cityscapes_ids,
        sample.semantic_file, sample.instance_file,
    )
    if problems:
        return None, None, problems
    write_panoptic_png(id_map, os.path.join(settings.png_dir, sample.png_name))
    height, width = id_map.shape
    image = {"id": sample.image_id, "file_name": sample.image_name, "height": height, "width": width}
    return image, {"image_id": sample.image_id, "file_name": sample.png_name, "segments_info": segments}, []


class StagedOutput:
    """A JSON and a PNG folder written under temporary names next to their destinations and moved
    there by :meth:`commit`; whatever was staged is removed otherwise."""

    def __init__(self, output_json: str, output_png_dir: str):
        problems = [f"{path} already exists; remove it or choose another output" for path in (output_json, output_png_dir) if os.path.exists(path)]
        if problems:
            raise ConversionError(problems)
        self.output_json, self.output_png_dir = output_json, output_png_dir
        for folder in {os.path.dirname(os.path.abspath(p)) for p in (output_json, output_png_dir)}:
            os.makedirs(folder, exist_ok=True)
        self.stage = tempfile.mkdtemp(prefix=".panfpn-data-", dir=os.path.dirname(os.path.abspath(output_png_dir)))
        self.png_dir = os.path.join(self.stage, "png")
        os.mkdir(self.png_dir)
        self._json_file = None

    def __enter__(self) -> "StagedOutput":
        return self

    def commit(self, content: dict) -> None:
        handle, self._json_file = tempfile.mkstemp(
            prefix=".panfpn-data-", suffix=".json", dir=os.path.dirname(os.path.abspath(self.output_json))
        )
        with os.fdopen(handle, "w") as f:
            json.dump(content, f)
        os.replace(self.png_dir, self.output_png_dir)
        os.replace(self._json_file, self.output_json)
        self._json_file = None

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._json_file is not None and os.path.exists(self._json_file):
            os.remove(self._json_file)


def _category_table(categories: Sequence[dict], void_ids: Collection[int], source: str) -> Dict[int, dict]:
    clashing = sorted(c["id"] for c in categories if c["id"] in set(void_ids))
    if clashing:
        raise ConversionError([f"{source}: category ids {clashing} are also ignore labels; which is meant is ambiguous"])
    return {c["id"]: c for c in categories}


def _finish(staged: StagedOutput, results, categories: Sequence[dict]) -> dict:
    """Commit the converted images (raise ConversionError listing every problem instead, writing nothing)."""
    problems = [p for _, _, image_problems in results for p in image_problems]
    if problems:
        raise ConversionError(problems)
    images = [image for image, _, _ in results]
    annotations = [annotation for _, annotation, _ in results]
    staged.commit({"images": images, "annotations": annotations, "categories": list(categories)})
    return {"images": len(images), "segments": sum(len(a["segments_info"]) for a in annotations)}


def convert_semantic_instance(
    samples: Sequence[LabelSample], categories: Sequence[dict], output_json: str, output_png_dir: str,
    void_ids: Collection[int] = (255,), cityscapes_ids: bool = False, workers: int = 0,
) -> dict:
    """Convert semantic + instance PNGs to COCO panoptic (see the module's doc); returns counts.

    ``samples`` may come from :func:`pair_label_files` or from a dataset's own layout (e.g. a
    Cityscapes gtFine tree: labelIds as semantic, instanceIds as instance, ``cityscapes_ids``,
    void ids the labels not evaluated). Raises ConversionError listing every problem.
    """
    table = _category_table(categories, void_ids, "categories")
    with StagedOutput(output_json, output_png_dir) as staged:
        settings = OutputSettings(table, tuple(void_ids), staged.png_dir)
        jobs = [LabelJob(s, cityscapes_ids, settings) for s in samples]
        results = list(map_in_processes(convert_label_sample, jobs, workers or default_workers()))
        return _finish(staged, results, categories)


def _files_by_stem(folder: str, extensions: Sequence[str], what: str, problems: List[str]) -> Dict[str, str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        problems.append(f"{what} folder {folder} cannot be listed: {e}")
        return {}
    by_stem: Dict[str, str] = {}
    for name in names:
        stem, extension = os.path.splitext(name)
        if extension.lower() not in extensions or not os.path.isfile(os.path.join(folder, name)):
            continue
        if stem in by_stem:
            problems.append(f"{what} folder {folder}: {by_stem[stem]} and {name} share the name {stem}; which is meant is ambiguous")
            continue
        by_stem[stem] = name
    return by_stem


def pair_label_files(image_dir: str, semantic_dir: str, instance_dir: str) -> List[LabelSample]:
    """Image ``x.<ext>`` with ``semantic_dir/x.png`` and ``instance_dir/x.png`` (image id ``x``, PNG
    ``x.png``); ConversionError naming every image without its PNGs and every PNG without its image."""
    problems: List[str] = []
    images = _files_by_stem(image_dir, IMAGE_EXTENSIONS, "image", problems)
    semantic = _files_by_stem(semantic_dir, (".png",), "semantic PNG", problems)
    instance = _files_by_stem(instance_dir, (".png",), "instance PNG", problems)
    for stem in sorted(images):
        for folder, found in ((semantic_dir, semantic), (instance_dir, instance)):
            if stem not in found:
                problems.append(f"{os.path.join(image_dir, images[stem])}: no {os.path.join(folder, stem + '.png')}")
    for folder, found in ((semantic_dir, semantic), (instance_dir, instance)):
        for stem in sorted(set(found) - set(images)):
            problems.append(f"{os.path.join(folder, found[stem])}: no image {stem}.* in {image_dir}")
    if not images and not problems:
        problems.append(f"image folder {image_dir} has no images ({', '.join(IMAGE_EXTENSIONS)})")
    if problems:
        raise ConversionError(problems)
    return [
        LabelSample(stem, os.path.join(image_dir, name), os.path.join(semantic_dir, stem + ".png"),
                    os.path.join(instance_dir, stem + ".png"), name, stem + ".png")
        for stem, name in images.items()
    ]


def _instance_mask(annotation: dict, height: int, width: int) -> np.ndarray:
    """The (H, W) bool mask of a COCO instance annotation (polygons, RLE or compressed RLE)."""
    from pycocotools import mask as mask_utils

    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list):
        if not segmentation or any(len(polygon) < 6 or len(polygon) % 2 for polygon in segmentation):
            raise ValueError("has a polygon with fewer than 3 points or an odd number of coordinates")
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            raise ValueError(f"has an RLE of size {segmentation['size']}, the image is {[height, width]}")
        rle = mask_utils.frPyObjects(segmentation, height, width) if isinstance(segmentation["counts"], list) else segmentation
    else:
        raise ValueError("has no 'segmentation' polygons or RLE")
    return mask_utils.decode(rle).astype(bool)


@dataclass
class CocoStuffJob:
    image: dict
    annotations: List[dict]
    image_file: str
    semantic_file: str
    instances_json: str
    settings: OutputSettings


def convert_coco_stuff_image(job: CocoStuffJob):
    """(image record, annotation, problems, pixels per rule, instances hidden) of one image."""
    image, categories = job.image, job.settings.categories
    height, width = image["height"], image["width"]
    problems, shapes = [], {job.instances_json + f" (image id {image['id']!r})": (height, width)}
    try:
        image_width, image_height = read_image_size(job.image_file)
        shapes[job.image_file] = (image_height, image_width)
    except (FileNotFoundError, ValueError) as e:
        problems.append(str(e))
    try:
        semantic = read_label_png(job.semantic_file, "semantic PNG")
        shapes[job.semantic_file] = semantic.shape
    except (FileNotFoundError, ValueError) as e:
        problems.append(str(e))
    problems += _size_problems(shapes)
    masks = []
    for annotation in job.annotations:
        where = f"{job.instances_json}: annotation {annotation.get('id')!r} of image {image['file_name']}"
        category = categories.get(annotation.get("category_id"))
        if category is None or not category["isthing"]:
            problems.append(f"{where} has category_id {annotation.get('category_id')!r}, not a thing category of the table")
            continue
        try:
            masks.append((annotation, _instance_mask(annotation, height, width)))
        except (ValueError, TypeError, KeyError) as e:
            problems.append(f"{where} {e}")
    if problems:
        return None, None, problems, [0, 0, 0], 0
    problems = _unknown_value_problems(semantic, set(categories) | set(job.settings.void_ids), job.semantic_file, "category ids")
    if problems:
        return None, None, problems, [0, 0, 0], 0

    id_map = np.zeros((height, width), dtype=np.int64)
    category_of, crowd = {}, set()
    stuff_ids = [c for c, category in categories.items() if not category["isthing"]]
    is_stuff = np.isin(semantic, stuff_ids)
    rule_pixels = [0, 0, 0]
    # Larger first, so smaller instances are painted over them; ties keep the JSON's order (later on top).
    order = sorted(range(len(masks)), key=lambda k: -int(masks[k][1].sum()))
    for segment_id, k in enumerate(order, start=1):
        annotation, mask = masks[k]
        rule_pixels[0] += int(np.count_nonzero(id_map[mask]))
        id_map[mask] = segment_id
        category_of[segment_id] = annotation["category_id"]
        if annotation.get("iscrowd", 0):
            crowd.add(segment_id)
    covered = id_map > 0
    rule_pixels[1] = int(np.count_nonzero(covered & is_stuff))
    rule_pixels[2] = int(np.count_nonzero(~covered & np.isin(semantic, [c for c in categories if c not in stuff_ids])))
    next_id = len(masks) + 1
    for category_id in np.unique(semantic[is_stuff & ~covered]).tolist():
        id_map[(semantic == category_id) & ~covered] = next_id
        category_of[next_id] = category_id
        next_id += 1
    segments = _segments_info(id_map, category_of, crowd)
    hidden = len(masks) - sum(1 for s in segments if s["id"] <= len(masks))
    png_name = os.path.splitext(image["file_name"])[0] + ".png"
    write_panoptic_png(id_map, os.path.join(job.settings.png_dir, png_name))
    record = {k: image[k] for k in ("id", "file_name", "height", "width")}
    return record, {"image_id": image["id"], "file_name": png_name, "segments_info": segments}, [], rule_pixels, hidden


def convert_coco_stuff(
    image_dir: str, instances_json: str, semantic_dir: str, categories: Sequence[dict], output_json: str,
    output_png_dir: str, void_ids: Collection[int] = (255,), workers: int = 0,
) -> dict:
    """Convert a COCO instances JSON + semantic PNGs (``semantic_dir/<image stem>.png``) to COCO
    panoptic (rules in the module's doc); returns counts, the pixels per rule included."""
    table = _category_table(categories, void_ids, "categories")
    try:
        with open(instances_json) as f:
            content = json.load(f)
    except FileNotFoundError:
        raise ConversionError([f"instances JSON {instances_json} does not exist"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError([f"instances JSON {instances_json} cannot be read: {e}"]) from e
    if not isinstance(content, dict) or not all(isinstance(content.get(k), list) for k in ("images", "annotations")):
        raise ConversionError([f"instances JSON {instances_json} has no list 'images' or 'annotations'"])
    problems, images, png_names = [], {}, {}
    for position, image in enumerate(content["images"]):
        if not isinstance(image, dict) or not all(k in image for k in ("id", "file_name", "height", "width")):
            problems.append(f"{instances_json}: image #{position} has no id, file_name, height or width")
        elif image["id"] in images:
            problems.append(f"{instances_json}: image id {image['id']!r} appears more than once")
        elif os.path.splitext(image["file_name"])[0] in png_names:
            problems.append(f"{instances_json}: images {png_names[os.path.splitext(image['file_name'])[0]]} and "
                            f"{image['file_name']} would share one PNG")
        else:
            images[image["id"]] = image
            png_names[os.path.splitext(image["file_name"])[0]] = image["file_name"]
    per_image: Dict = {image_id: [] for image_id in images}
    for annotation in content["annotations"]:
        if not isinstance(annotation, dict) or annotation.get("image_id") not in per_image:
            problems.append(f"{instances_json}: annotation {annotation.get('id') if isinstance(annotation, dict) else annotation!r} "
                            f"refers to image id {annotation.get('image_id') if isinstance(annotation, dict) else None!r}, not in 'images'")
            continue
        per_image[annotation["image_id"]].append(annotation)
    if problems:
        raise ConversionError(problems)
    with StagedOutput(output_json, output_png_dir) as staged:
        settings = OutputSettings(table, tuple(void_ids), staged.png_dir)
        jobs = [
            CocoStuffJob(
                image, per_image[image_id], os.path.join(image_dir, image["file_name"]),
                os.path.join(semantic_dir, os.path.splitext(image["file_name"])[0] + ".png"),
                instances_json, settings,
            )
            for image_id, image in images.items()
        ]
        results = list(map_in_processes(convert_coco_stuff_image, jobs, workers or default_workers()))
        counts = _finish(staged, [r[:3] for r in results], categories)
    counts["pixels per rule"] = dict(zip(COCO_STUFF_RULES, np.sum([r[3] for r in results], axis=0).tolist() if results else [0, 0, 0]))
    counts["instances hidden by smaller ones"] = sum(r[4] for r in results)
    return counts
