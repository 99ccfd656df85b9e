"""Mapillary Vistas panoptic, v1.2 (65 categories, 37 things) and v2.0 (124 classes in its README), from
the COCO-panoptic files the dataset ships. v2.0's categories (and isthing) are read from its JSON on
first use; v1.2's are also in code (checked against its JSON on load), so a model of the shipped v1.2
config (one semantic class per category) can be built before the data is there.

Research edition layout: ``{training,validation}/images/<key>.jpg`` and
``{training,validation}/<version>/panoptic/`` holding the JSON (``panoptic_2018.json`` for v1.2,
``panoptic_2020.json`` for v2.0) and ``<key>.png``. The older v1.x download (and Mask2Former's
expected layout) has the v1.2 files directly in ``{training,validation}/panoptic/``: used when the
versioned folder is absent.
"""
import os

from detectron2.data import Metadata

from .datasets import SPLIT_FOLDERS, register_panoptic_dataset

JSON_NAMES = {"v1.2": "panoptic_2018.json", "v2.0": "panoptic_2020.json"}
# (name, supercategory, isthing, colour) of v1.2's category ids 1..65, in id order: the "categories" of
# its panoptic_2018.json, as Mask2Former's mask2former/data/datasets/register_mapillary_vistas_panoptic.py
# lists them (MAPILLARY_VISTAS_SEM_SEG_CATEGORIES).
MAPILLARY_VISTAS_V12_TABLE = (
    ('Bird', 'animal--bird', 1, (165, 42, 42)),
    ('Ground Animal', 'animal--ground-animal', 1, (0, 192, 0)),
    ('Curb', 'construction--barrier--curb', 0, (196, 196, 196)),
    ('Fence', 'construction--barrier--fence', 0, (190, 153, 153)),
    ('Guard Rail', 'construction--barrier--guard-rail', 0, (180, 165, 180)),
    ('Barrier', 'construction--barrier--other-barrier', 0, (90, 120, 150)),
    ('Wall', 'construction--barrier--wall', 0, (102, 102, 156)),
    ('Bike Lane', 'construction--flat--bike-lane', 0, (128, 64, 255)),
    ('Crosswalk - Plain', 'construction--flat--crosswalk-plain', 1, (140, 140, 200)),
    ('Curb Cut', 'construction--flat--curb-cut', 0, (170, 170, 170)),
    ('Parking', 'construction--flat--parking', 0, (250, 170, 160)),
    ('Pedestrian Area', 'construction--flat--pedestrian-area', 0, (96, 96, 96)),
    ('Rail Track', 'construction--flat--rail-track', 0, (230, 150, 140)),
    ('Road', 'construction--flat--road', 0, (128, 64, 128)),
    ('Service Lane', 'construction--flat--service-lane', 0, (110, 110, 110)),
    ('Sidewalk', 'construction--flat--sidewalk', 0, (244, 35, 232)),
    ('Bridge', 'construction--structure--bridge', 0, (150, 100, 100)),
    ('Building', 'construction--structure--building', 0, (70, 70, 70)),
    ('Tunnel', 'construction--structure--tunnel', 0, (150, 120, 90)),
    ('Person', 'human--person', 1, (220, 20, 60)),
    ('Bicyclist', 'human--rider--bicyclist', 1, (255, 0, 0)),
    ('Motorcyclist', 'human--rider--motorcyclist', 1, (255, 0, 100)),
    ('Other Rider', 'human--rider--other-rider', 1, (255, 0, 200)),
    ('Lane Marking - Crosswalk', 'marking--crosswalk-zebra', 1, (200, 128, 128)),
    ('Lane Marking - General', 'marking--general', 0, (255, 255, 255)),
    ('Mountain', 'nature--mountain', 0, (64, 170, 64)),
    ('Sand', 'nature--sand', 0, (230, 160, 50)),
    ('Sky', 'nature--sky', 0, (70, 130, 180)),
    ('Snow', 'nature--snow', 0, (190, 255, 255)),
    ('Terrain', 'nature--terrain', 0, (152, 251, 152)),
    ('Vegetation', 'nature--vegetation', 0, (107, 142, 35)),
    ('Water', 'nature--water', 0, (0, 170, 30)),
    ('Banner', 'object--banner', 1, (255, 255, 128)),
    ('Bench', 'object--bench', 1, (250, 0, 30)),
    ('Bike Rack', 'object--bike-rack', 1, (100, 140, 180)),
    ('Billboard', 'object--billboard', 1, (220, 220, 220)),
    ('Catch Basin', 'object--catch-basin', 1, (220, 128, 128)),
    ('CCTV Camera', 'object--cctv-camera', 1, (222, 40, 40)),
    ('Fire Hydrant', 'object--fire-hydrant', 1, (100, 170, 30)),
    ('Junction Box', 'object--junction-box', 1, (40, 40, 40)),
    ('Mailbox', 'object--mailbox', 1, (33, 33, 33)),
    ('Manhole', 'object--manhole', 1, (100, 128, 160)),
    ('Phone Booth', 'object--phone-booth', 1, (142, 0, 0)),
    ('Pothole', 'object--pothole', 0, (70, 100, 150)),
    ('Street Light', 'object--street-light', 1, (210, 170, 100)),
    ('Pole', 'object--support--pole', 1, (153, 153, 153)),
    ('Traffic Sign Frame', 'object--support--traffic-sign-frame', 1, (128, 128, 128)),
    ('Utility Pole', 'object--support--utility-pole', 1, (0, 0, 80)),
    ('Traffic Light', 'object--traffic-light', 1, (250, 170, 30)),
    ('Traffic Sign (Back)', 'object--traffic-sign--back', 1, (192, 192, 192)),
    ('Traffic Sign (Front)', 'object--traffic-sign--front', 1, (220, 220, 0)),
    ('Trash Can', 'object--trash-can', 1, (140, 140, 20)),
    ('Bicycle', 'object--vehicle--bicycle', 1, (119, 11, 32)),
    ('Boat', 'object--vehicle--boat', 1, (150, 0, 255)),
    ('Bus', 'object--vehicle--bus', 1, (0, 60, 100)),
    ('Car', 'object--vehicle--car', 1, (0, 0, 142)),
    ('Caravan', 'object--vehicle--caravan', 1, (0, 0, 90)),
    ('Motorcycle', 'object--vehicle--motorcycle', 1, (0, 0, 230)),
    ('On Rails', 'object--vehicle--on-rails', 0, (0, 80, 100)),
    ('Other Vehicle', 'object--vehicle--other-vehicle', 1, (128, 64, 64)),
    ('Trailer', 'object--vehicle--trailer', 1, (0, 0, 110)),
    ('Truck', 'object--vehicle--truck', 1, (0, 0, 70)),
    ('Wheeled Slow', 'object--vehicle--wheeled-slow', 1, (0, 0, 192)),
    ('Car Mount', 'void--car-mount', 0, (32, 32, 32)),
    ('Ego Vehicle', 'void--ego-vehicle', 0, (120, 10, 10)),
)


def mapillary_vistas_v12_categories():
    """v1.2's 65 categories as its panoptic JSON lists them (ids 1..65)."""
    return [
        {"id": i, "name": name, "supercategory": supercategory, "isthing": isthing, "color": list(color)}
        for i, (name, supercategory, isthing, color) in enumerate(MAPILLARY_VISTAS_V12_TABLE, start=1)
    ]


def panoptic_folder(split_root: str, version: str) -> str:
    versioned = os.path.join(split_root, version, "panoptic")
    flat = os.path.join(split_root, "panoptic")
    if version == "v1.2" and not os.path.isdir(versioned) and os.path.isfile(os.path.join(flat, JSON_NAMES[version])):
        return flat
    return versioned


def register_mapillary_vistas_panoptic(name: str, mapillary_root: str, split: str, version: str = "v1.2") -> Metadata:
    """Register Mapillary Vistas panoptic ``split`` ("train" or "val") of ``version`` ("v1.2" or "v2.0")."""
    if version not in JSON_NAMES:
        raise ValueError(f"Mapillary Vistas version {version!r}: expected one of {sorted(JSON_NAMES)}")
    split_root = os.path.join(mapillary_root, SPLIT_FOLDERS[split])
    image_root = os.path.join(split_root, "images")
    folder = panoptic_folder(split_root, version)
    return register_panoptic_dataset(
        name,
        os.path.join(folder, JSON_NAMES[version]),
        image_root,
        folder,
        categories=mapillary_vistas_v12_categories() if version == "v1.2" else None,
        # Images are named by their image id (the JSON's key of an image), as the dataset's demo reads them.
        image_file_for=lambda image: os.path.join(image_root, f"{image['id']}.jpg"),
    )
