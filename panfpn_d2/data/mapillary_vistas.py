"""Mapillary Vistas panoptic, v1.2 (65 categories, 37 things) and v2.0 (124 categories, 70 things), from
the COCO-panoptic files the dataset ships; its categories (and isthing) are read from that JSON.

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
        # Images are named by their image id (the JSON's key of an image), as the dataset's demo reads them.
        image_file_for=lambda image: os.path.join(image_root, f"{image['id']}.jpg"),
    )
