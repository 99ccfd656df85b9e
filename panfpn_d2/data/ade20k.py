"""ADE20K panoptic (ADEChallengeData2016, 150 categories: 100 things, 50 stuff) in COCO panoptic format.

The usual files are those Mask2Former's ``datasets/prepare_ade20k_pan_seg.py`` writes:
``ADEChallengeData2016/ade20k_panoptic_{train,val}.json`` + folder, images in
``ADEChallengeData2016/images/{training,validation}/``. Without them, they are built on first load
(where: :func:`first_use.output_folder`) from ADE's semantic PNGs (``annotations/<split>/``, 0 void,
k = category k-1) and the SceneParsing instance PNGs (``annotations_instance/<split>/``, RGB: red the
instance class 1..100, green the instance number, 0 none), with the benchmark's rules: stuff from the
semantic PNG, each instance (a green value) a thing segment on top of it, thing pixels of the semantic
PNG that no instance covers void. Instance class k is the k-th thing category in id order (what
Mask2Former's ``datasets/ade20k_instance_catid_mapping.txt`` maps it to, every one of the 100).
Segment ids differ from Mask2Former's (random there); the segments are the same.
"""
import glob
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import List

import numpy as np
from detectron2.data import Metadata
from PIL import Image

from panfpn_lite.data_tools.convert import ConversionError, LabelSample, convert_semantic_instance, read_label_png
from panfpn_lite.data_tools.segments import map_in_processes

from .datasets import SPLIT_FOLDERS, register_panoptic_dataset
from .first_use import build_once, output_folder

# (name, isthing, colour) of category ids 0..149, in id order: the panoptic benchmark's table, from
# Mask2Former's mask2former/data/datasets/register_ade20k_panoptic.py (ADE20K_150_CATEGORIES).
ADE20K_PANOPTIC_TABLE = (
    ('wall', 0, (120, 120, 120)),
    ('building', 0, (180, 120, 120)),
    ('sky', 0, (6, 230, 230)),
    ('floor', 0, (80, 50, 50)),
    ('tree', 0, (4, 200, 3)),
    ('ceiling', 0, (120, 120, 80)),
    ('road, route', 0, (140, 140, 140)),
    ('bed', 1, (204, 5, 255)),
    ('window ', 1, (230, 230, 230)),
    ('grass', 0, (4, 250, 7)),
    ('cabinet', 1, (224, 5, 255)),
    ('sidewalk, pavement', 0, (235, 255, 7)),
    ('person', 1, (150, 5, 61)),
    ('earth, ground', 0, (120, 120, 70)),
    ('door', 1, (8, 255, 51)),
    ('table', 1, (255, 6, 82)),
    ('mountain, mount', 0, (143, 255, 140)),
    ('plant', 0, (204, 255, 4)),
    ('curtain', 1, (255, 51, 7)),
    ('chair', 1, (204, 70, 3)),
    ('car', 1, (0, 102, 200)),
    ('water', 0, (61, 230, 250)),
    ('painting, picture', 1, (255, 6, 51)),
    ('sofa', 1, (11, 102, 255)),
    ('shelf', 1, (255, 7, 71)),
    ('house', 0, (255, 9, 224)),
    ('sea', 0, (9, 7, 230)),
    ('mirror', 1, (220, 220, 220)),
    ('rug', 0, (255, 9, 92)),
    ('field', 0, (112, 9, 255)),
    ('armchair', 1, (8, 255, 214)),
    ('seat', 1, (7, 255, 224)),
    ('fence', 1, (255, 184, 6)),
    ('desk', 1, (10, 255, 71)),
    ('rock, stone', 0, (255, 41, 10)),
    ('wardrobe, closet, press', 1, (7, 255, 255)),
    ('lamp', 1, (224, 255, 8)),
    ('tub', 1, (102, 8, 255)),
    ('rail', 1, (255, 61, 6)),
    ('cushion', 1, (255, 194, 7)),
    ('base, pedestal, stand', 0, (255, 122, 8)),
    ('box', 1, (0, 255, 20)),
    ('column, pillar', 1, (255, 8, 41)),
    ('signboard, sign', 1, (255, 5, 153)),
    ('chest of drawers, chest, bureau, dresser', 1, (6, 51, 255)),
    ('counter', 1, (235, 12, 255)),
    ('sand', 0, (160, 150, 20)),
    ('sink', 1, (0, 163, 255)),
    ('skyscraper', 0, (140, 140, 140)),
    ('fireplace', 1, (250, 10, 15)),
    ('refrigerator, icebox', 1, (20, 255, 0)),
    ('grandstand, covered stand', 0, (31, 255, 0)),
    ('path', 0, (255, 31, 0)),
    ('stairs', 1, (255, 224, 0)),
    ('runway', 0, (153, 255, 0)),
    ('case, display case, showcase, vitrine', 1, (0, 0, 255)),
    ('pool table, billiard table, snooker table', 1, (255, 71, 0)),
    ('pillow', 1, (0, 235, 255)),
    ('screen door, screen', 1, (0, 173, 255)),
    ('stairway, staircase', 0, (31, 0, 255)),
    ('river', 0, (11, 200, 200)),
    ('bridge, span', 0, (255, 82, 0)),
    ('bookcase', 1, (0, 255, 245)),
    ('blind, screen', 0, (0, 61, 255)),
    ('coffee table', 1, (0, 255, 112)),
    ('toilet, can, commode, crapper, pot, potty, stool, throne', 1, (0, 255, 133)),
    ('flower', 1, (255, 0, 0)),
    ('book', 1, (255, 163, 0)),
    ('hill', 0, (255, 102, 0)),
    ('bench', 1, (194, 255, 0)),
    ('countertop', 1, (0, 143, 255)),
    ('stove', 1, (51, 255, 0)),
    ('palm, palm tree', 1, (0, 82, 255)),
    ('kitchen island', 1, (0, 255, 41)),
    ('computer', 1, (0, 255, 173)),
    ('swivel chair', 1, (10, 0, 255)),
    ('boat', 1, (173, 255, 0)),
    ('bar', 0, (0, 255, 153)),
    ('arcade machine', 1, (255, 92, 0)),
    ('hovel, hut, hutch, shack, shanty', 0, (255, 0, 255)),
    ('bus', 1, (255, 0, 245)),
    ('towel', 1, (255, 0, 102)),
    ('light', 1, (255, 173, 0)),
    ('truck', 1, (255, 0, 20)),
    ('tower', 0, (255, 184, 184)),
    ('chandelier', 1, (0, 31, 255)),
    ('awning, sunshade, sunblind', 1, (0, 255, 61)),
    ('street lamp', 1, (0, 71, 255)),
    ('booth', 1, (255, 0, 204)),
    ('tv', 1, (0, 255, 194)),
    ('plane', 1, (0, 255, 82)),
    ('dirt track', 0, (0, 10, 255)),
    ('clothes', 1, (0, 112, 255)),
    ('pole', 1, (51, 0, 255)),
    ('land, ground, soil', 0, (0, 194, 255)),
    ('bannister, banister, balustrade, balusters, handrail', 1, (0, 122, 255)),
    ('escalator, moving staircase, moving stairway', 0, (0, 255, 163)),
    ('ottoman, pouf, pouffe, puff, hassock', 1, (255, 153, 0)),
    ('bottle', 1, (0, 255, 10)),
    ('buffet, counter, sideboard', 0, (255, 112, 0)),
    ('poster, posting, placard, notice, bill, card', 0, (143, 255, 0)),
    ('stage', 0, (82, 0, 255)),
    ('van', 1, (163, 255, 0)),
    ('ship', 1, (255, 235, 0)),
    ('fountain', 1, (8, 184, 170)),
    ('conveyer belt, conveyor belt, conveyer, conveyor, transporter', 0, (133, 0, 255)),
    ('canopy', 0, (0, 255, 92)),
    ('washer, automatic washer, washing machine', 1, (184, 0, 255)),
    ('plaything, toy', 1, (255, 0, 31)),
    ('pool', 0, (0, 184, 255)),
    ('stool', 1, (0, 214, 255)),
    ('barrel, cask', 1, (255, 0, 112)),
    ('basket, handbasket', 1, (92, 255, 0)),
    ('falls', 0, (0, 224, 255)),
    ('tent', 0, (112, 224, 255)),
    ('bag', 1, (70, 184, 160)),
    ('minibike, motorbike', 1, (163, 0, 255)),
    ('cradle', 0, (153, 0, 255)),
    ('oven', 1, (71, 255, 0)),
    ('ball', 1, (255, 0, 163)),
    ('food, solid food', 1, (255, 204, 0)),
    ('step, stair', 1, (255, 0, 143)),
    ('tank, storage tank', 0, (0, 255, 235)),
    ('trade name', 1, (133, 255, 0)),
    ('microwave', 1, (255, 0, 235)),
    ('pot', 1, (245, 0, 255)),
    ('animal', 1, (255, 0, 122)),
    ('bicycle', 1, (255, 245, 0)),
    ('lake', 0, (10, 190, 212)),
    ('dishwasher', 1, (214, 255, 0)),
    ('screen', 1, (0, 204, 255)),
    ('blanket, cover', 0, (20, 0, 255)),
    ('sculpture', 1, (255, 255, 0)),
    ('hood, exhaust hood', 1, (0, 153, 255)),
    ('sconce', 1, (0, 41, 255)),
    ('vase', 1, (0, 255, 204)),
    ('traffic light', 1, (41, 0, 255)),
    ('tray', 1, (41, 255, 0)),
    ('trash can', 1, (173, 0, 255)),
    ('fan', 1, (0, 245, 255)),
    ('pier', 0, (71, 0, 255)),
    ('crt screen', 0, (122, 0, 255)),
    ('plate', 1, (0, 255, 184)),
    ('monitor', 1, (0, 92, 255)),
    ('bulletin board', 1, (184, 255, 0)),
    ('shower', 0, (0, 133, 255)),
    ('radiator', 1, (255, 214, 0)),
    ('glass, drinking glass', 1, (25, 194, 194)),
    ('clock', 1, (102, 255, 0)),
    ('flag', 1, (92, 0, 255)),
)


def ade20k_panoptic_categories():
    """The 150 categories as the panoptic JSON lists them (ids 0..149)."""
    return [
        {"id": i, "name": name, "isthing": isthing, "color": list(color)}
        for i, (name, isthing, color) in enumerate(ADE20K_PANOPTIC_TABLE)
    ]


THINGS = [i for i, (_, isthing, _) in enumerate(ADE20K_PANOPTIC_TABLE) if isthing]
VOID = 255


@dataclass
class LabelMapsJob:
    semantic_file: str
    instance_file: str
    output_semantic: str
    output_instance: str


def write_label_maps(job: LabelMapsJob) -> List[str]:
    """Write one image's category map (VOID where void) and instance map (0: none) as 8-bit PNGs;
    returns the problems of its two annotation files instead."""
    try:
        semantic = read_label_png(job.semantic_file, "ADE20K semantic PNG")
    except (FileNotFoundError, ValueError) as e:
        return [str(e)]
    try:
        with Image.open(job.instance_file) as png:
            if png.mode not in ("RGB", "RGBA"):
                return [f"ADE20K instance PNG {job.instance_file} has mode {png.mode}; expected RGB (class, instance)"]
            instance = np.asarray(png).astype(np.int64)
    except FileNotFoundError:
        return [f"ADE20K instance PNG {job.instance_file} does not exist"]
    except (OSError, SyntaxError) as e:
        return [f"ADE20K instance PNG {job.instance_file} cannot be read: {e}"]
    if semantic.shape != instance.shape[:2]:
        return [f"sizes differ: {job.semantic_file} {semantic.shape[1]}x{semantic.shape[0]}, "
                f"{job.instance_file} {instance.shape[1]}x{instance.shape[0]}"]
    problems = []
    if semantic.max() > len(ADE20K_PANOPTIC_TABLE):
        problems.append(f"{job.semantic_file}: value {int(semantic.max())} is no category (1..{len(ADE20K_PANOPTIC_TABLE)}, 0 void)")
    instance_class, number = instance[..., 0], instance[..., 1]
    has_instance = number > 0
    bad = np.unique(instance_class[has_instance & ((instance_class < 1) | (instance_class > len(THINGS)))])
    if bad.size:
        problems.append(f"{job.instance_file}: instance classes {bad.tolist()} outside 1..{len(THINGS)}")
    pairs = np.unique(number[has_instance] * 256 + instance_class[has_instance])
    numbers, counts = np.unique(pairs // 256, return_counts=True)
    if np.any(counts > 1):
        problems.append(f"{job.instance_file}: instances {numbers[counts > 1].tolist()} have more than one class")
    if problems:
        return problems
    is_stuff = np.array([False] + [not isthing for _, isthing, _ in ADE20K_PANOPTIC_TABLE])
    thing_of_class = np.array([VOID] + THINGS)
    category = np.where(has_instance, thing_of_class[np.where(has_instance, instance_class, 0)],
                        np.where(is_stuff[semantic], semantic - 1, VOID))
    Image.fromarray(category.astype(np.uint8)).save(job.output_semantic)
    Image.fromarray(np.where(has_instance, number, 0).astype(np.uint8)).save(job.output_instance)
    return []


def prepare_ade20k_panoptic(ade_root: str, split: str, json_file: str, png_dir: str) -> None:
    """Build ``split``'s panoptic files unless they exist (once across processes)."""
    if os.path.isfile(json_file):
        return
    pattern = os.path.join(ade_root, "images", SPLIT_FOLDERS[split], "*.jpg")
    if not glob.glob(pattern):  # named before any folder is made
        raise FileNotFoundError(f"ADE20K {split!r}: no panoptic JSON {json_file} and no images {pattern} to build it from")
    build_once(json_file, lambda: build_ade20k_panoptic(ade_root, split, json_file, png_dir))


def build_ade20k_panoptic(ade_root: str, split: str, json_file: str, png_dir: str) -> None:
    """Write the COCO-panoptic JSON and PNGs of ``split`` from ADE's semantic and instance annotations."""
    folder = SPLIT_FOLDERS[split]
    images = sorted(glob.glob(os.path.join(ade_root, "images", folder, "*.jpg")))
    stage = tempfile.mkdtemp(prefix=".panfpn-ade20k-", dir=os.path.dirname(os.path.abspath(json_file)))
    try:
        jobs, samples = [], []
        for image in images:
            image_id = os.path.splitext(os.path.basename(image))[0]
            job = LabelMapsJob(
                os.path.join(ade_root, "annotations", folder, image_id + ".png"),
                os.path.join(ade_root, "annotations_instance", folder, image_id + ".png"),
                os.path.join(stage, image_id + "_semantic.png"),
                os.path.join(stage, image_id + "_instance.png"),
            )
            jobs.append(job)
            samples.append(LabelSample(image_id, image, job.output_semantic, job.output_instance,
                                       os.path.basename(image), image_id + ".png"))
        workers = min(8, os.cpu_count() or 1)
        problems = [p for image_problems in map_in_processes(write_label_maps, jobs, workers) for p in image_problems]
        if problems:
            raise ConversionError(problems)
        convert_semantic_instance(samples, ade20k_panoptic_categories(), json_file, png_dir, (VOID,), workers=workers)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def register_ade20k_panoptic(name: str, ade_root: str, split: str) -> Metadata:
    """Register ADE20K panoptic ``split`` ("train" or "val") under ``ade_root`` (the ADEChallengeData2016 folder)."""
    folder = output_folder(ade_root, f"ade20k_panoptic_{split}.json", "ade20k")
    json_file = os.path.join(folder, f"ade20k_panoptic_{split}.json")
    png_dir = os.path.join(folder, f"ade20k_panoptic_{split}")
    return register_panoptic_dataset(
        name,
        json_file,
        os.path.join(ade_root, "images", SPLIT_FOLDERS[split]),
        png_dir,
        categories=ade20k_panoptic_categories(),
        prepare=lambda: prepare_ade20k_panoptic(ade_root, split, json_file, png_dir),
    )
