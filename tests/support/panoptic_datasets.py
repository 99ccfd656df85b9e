"""Small generated datasets in the layouts panfpn-data reads: COCO panoptic with images, and
semantic + instance PNGs with a category table."""
import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from .panoptic_files import TOY_CATEGORIES, file_stem, write_panoptic_files

HEIGHT, WIDTH = 40, 60
THING_IDS = [c["id"] for c in TOY_CATEGORIES if c["isthing"]]
STUFF_IDS = [c["id"] for c in TOY_CATEGORIES if not c["isthing"]]


def scene(index: int) -> Tuple[np.ndarray, np.ndarray]:
    """(category id map, instance number map) of generated image ``index``: sky over grass, a void
    band, two persons and a car (one of each, from index 1 on, touching), and a crowd of cars."""
    semantic = np.full((HEIGHT, WIDTH), 7, dtype=np.int64)
    semantic[20:, :] = 9
    semantic[:2, :] = 255
    instance = np.zeros_like(semantic)
    semantic[5:15, 5 + index:25] = 1
    instance[5:15, 5 + index:25] = 1
    semantic[8:18, 25:35] = 1
    instance[8:18, 25:35] = 2
    semantic[25:35, 30:50 - index] = 2
    instance[25:35, 30:50 - index] = 3
    semantic[36:39, 2:12] = 2  # no instance number: the cars' crowd segment
    return semantic, instance


def write_images(folder: Path, names: List[str], seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(folder / name)


def write_panoptic_dataset(folder: Path, count: int = 4) -> Dict[str, str]:
    """A valid COCO panoptic dataset of ``count`` images: {"json", "png_dir", "images"} paths."""
    images = []
    for index in range(count):
        semantic, instance = scene(index)
        id_map = np.where(semantic == 255, 0, semantic * 10 + instance)
        segments = [{"id": int(i), "category_id": int(i // 10), "iscrowd": int(i // 10 in THING_IDS and i % 10 == 0)}
                    for i in np.unique(id_map) if i]
        images.append((index + 1, id_map, segments))
    json_file, png_dir = write_panoptic_files(folder, "panoptic", images, TOY_CATEGORIES)
    write_images(folder / "images", [f"{file_stem(index + 1)}.jpg" for index in range(count)])
    return {"json": json_file, "png_dir": png_dir, "images": str(folder / "images")}


def write_label_dataset(folder: Path, count: int = 3, cityscapes_ids: bool = False) -> Dict[str, str]:
    """The semantic + instance layout of the same scenes: images/x.jpg, semantic/x.png,
    instances/x.png (16-bit; labelId*1000+instance with ``cityscapes_ids``), categories.json."""
    names = [f"scene{index}" for index in range(count)]
    write_images(folder / "images", [f"{name}.jpg" for name in names])
    for sub in ("semantic", "instances"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        semantic, instance = scene(index)
        Image.fromarray(semantic.astype(np.uint8)).save(folder / "semantic" / f"{name}.png")
        if cityscapes_ids:
            instance = np.where(instance > 0, semantic * 1000 + instance, semantic)
        Image.fromarray(instance.astype(np.uint16)).save(folder / "instances" / f"{name}.png")
    (folder / "categories.json").write_text(json.dumps(TOY_CATEGORIES))
    return {**{key: str(folder / key) for key in ("images", "semantic", "instances")},
            "categories": str(folder / "categories.json")}
