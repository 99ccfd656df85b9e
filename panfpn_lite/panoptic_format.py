"""The COCO panoptic format: segment-id maps <-> PNGs, segment records, category ids (the one home
of contiguous <-> dataset ids and of a dataset's COCO "categories").

A segment-id map is an integer (H, W) array; 0 is void. A COCO panoptic PNG stores each pixel's
id as R + 256·G + 256²·B. Segment records ("segments_info") name a category by its dataset id in
files, and by a contiguous id (thing 0..T-1, stuff 1..S) inside detectron2.
"""
import colorsys
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
from PIL import Image

# Segment ids fit in three 8-bit channels.
MAX_SEGMENT_ID = 256**3 - 1


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """The (H, W) int64 segment-id map of an (H, W, 3) RGB array."""
    rgb = np.asarray(rgb, dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def id_to_rgb(id_map: np.ndarray) -> np.ndarray:
    """The (H, W, 3) uint8 RGB array of a segment-id map; ids must lie in [0, 256³)."""
    id_map = np.asarray(id_map, dtype=np.int64)
    if id_map.size and (id_map.min() < 0 or id_map.max() > MAX_SEGMENT_ID):
        raise ValueError(f"segment ids must lie in [0, 256**3), got [{id_map.min()}, {id_map.max()}]")
    return np.stack([id_map % 256, id_map // 256 % 256, id_map // 65536], axis=-1).astype(np.uint8)


def read_panoptic_png(file_name: str, opener: Callable = open) -> np.ndarray:
    """The (H, W) int64 segment-id map of a COCO panoptic PNG.

    ``opener(file_name, "rb")`` opens the file (e.g. detectron2's ``PathManager.open`` for remote paths).
    """
    try:
        with opener(file_name, "rb") as f:
            png = Image.open(f)
            png.load()
    except FileNotFoundError:
        raise FileNotFoundError(f"panoptic PNG {file_name} does not exist") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"panoptic PNG {file_name} cannot be read: {e}") from e
    if png.mode == "RGBA":
        png = png.convert("RGB")
    if png.mode != "RGB":
        raise ValueError(
            f"panoptic PNG {file_name} has mode {png.mode}; a COCO panoptic PNG is RGB (id = R + 256·G + 256²·B)"
        )
    return rgb_to_id(np.asarray(png))


def write_panoptic_png(id_map: np.ndarray, path: str) -> None:
    """Write a segment-id map (ids < 256³) as a COCO panoptic PNG."""
    try:
        rgb = id_to_rgb(id_map)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    Image.fromarray(rgb).save(path)


def segment_box(mask: np.ndarray) -> List[int]:
    """COCO's ``[x, y, width, height]`` of a boolean mask's pixels ([0, 0, 0, 0] if it has none)."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def segment_areas(id_map: np.ndarray, segment_ids: Iterable[int]) -> Dict[int, int]:
    """The pixel count of each of ``segment_ids`` in a segment-id map (0 for an absent id)."""
    id_map = np.asarray(id_map)
    ids, counts = np.unique(id_map, return_counts=True)
    found = dict(zip(ids.tolist(), counts.tolist()))
    return {int(i): int(found.get(int(i), 0)) for i in segment_ids}


def segment_info(
    segment_id: int, category_id: int, area: int, *, bbox: Optional[List[int]] = None, score: Optional[float] = None
) -> dict:
    """A prediction's entry of a COCO panoptic annotation's ``segments_info`` (never a crowd)."""
    record = {"id": int(segment_id), "category_id": int(category_id), "iscrowd": 0, "area": int(area)}
    if bbox is not None:
        record["bbox"] = [int(v) for v in bbox]
    if score is not None:
        record["score"] = float(score)
    return record


class DatasetCategoryIds:
    """Contiguous category ids (thing 0..T-1, stuff 1..S, detectron2's) -> the dataset's ids.

    Built from the inverse maps of a dataset's metadata (``thing_dataset_id_to_contiguous_id``,
    ``stuff_dataset_id_to_contiguous_id``).
    """

    def __init__(self, thing_dataset_id_to_contiguous_id: dict, stuff_dataset_id_to_contiguous_id: dict, dataset_name: str = ""):
        self.thing = {int(c): int(d) for d, c in thing_dataset_id_to_contiguous_id.items()}
        self.stuff = {int(c): int(d) for d, c in stuff_dataset_id_to_contiguous_id.items()}
        self.dataset_name = dataset_name

    @classmethod
    def of_dataset(cls, metadata) -> "DatasetCategoryIds":
        """The ids of a dataset's metadata (e.g. detectron2's ``MetadataCatalog.get(name)``)."""
        return cls(metadata.thing_dataset_id_to_contiguous_id, metadata.stuff_dataset_id_to_contiguous_id, metadata.name)

    def to_export(self) -> dict:
        """The tables as an export's metadata stores them: sorted ``[contiguous, dataset]`` pairs."""
        return {
            "thing_contiguous_to_dataset_id": sorted([c, d] for c, d in self.thing.items()),
            "stuff_contiguous_to_dataset_id": sorted([c, d] for c, d in self.stuff.items()),
        }

    @classmethod
    def from_export(cls, dataset: dict) -> "DatasetCategoryIds":
        """The ids of an export metadata's ``"dataset"`` object (see :meth:`to_export`)."""
        return cls(
            {d: c for c, d in dataset["thing_contiguous_to_dataset_id"]},
            {d: c for c, d in dataset["stuff_contiguous_to_dataset_id"]},
            dataset.get("name", ""),
        )

    def of_segment(self, segment: dict, image_id) -> int:
        """The dataset id of a predicted segment (``category_id`` contiguous, ``isthing``); a KeyError
        naming the image and segment for an id the dataset does not have."""
        table = self.thing if segment["isthing"] else self.stuff
        category = int(segment["category_id"])
        if category not in table:
            kind = "thing" if segment["isthing"] else "stuff"
            raise KeyError(
                f"image_id {image_id}: predicted segment {segment['id']} has {kind} contiguous category_id "
                f"{category}, unknown to dataset {self.dataset_name!r} (known: {sorted(table)})"
            )
        return table[category]


def dataset_categories(metadata) -> List[dict]:
    """The COCO panoptic "categories" of a dataset registered with the separated convention (its
    metadata: ``thing_/stuff_dataset_id_to_contiguous_id``, ``*_classes``, ``*_colors``, optional
    ``category_dataset_ids`` for the order)."""
    things = dict(metadata.thing_dataset_id_to_contiguous_id)
    stuff = dict(metadata.stuff_dataset_id_to_contiguous_id)
    order = metadata.get("category_dataset_ids", None) or [*things, *stuff]
    return [
        {"id": d, "name": metadata.thing_classes[things[d]], "isthing": 1, "color": list(metadata.thing_colors[things[d]])}
        if d in things
        else {"id": d, "name": metadata.stuff_classes[stuff[d]], "isthing": 0, "color": list(metadata.stuff_colors[stuff[d]])}
        for d in order
    ]


# Colour of the shared 'things' entry (index 0) of stuff_colors.
THINGS_STUFF_COLOR = [128, 128, 128]
# Metadata keys derived from the JSON's "categories".
CATEGORY_METADATA_KEYS = (
    "thing_classes",
    "thing_colors",
    "thing_dataset_id_to_contiguous_id",
    "stuff_classes",
    "stuff_colors",
    "stuff_dataset_id_to_contiguous_id",
    "category_dataset_ids",
)


def distinct_color(index: int) -> List[int]:
    """A deterministic RGB colour; consecutive indices get well-separated hues (golden-ratio steps)."""
    hue = (index * 0.618033988749895) % 1.0
    value = 0.95 if index % 2 == 0 else 0.7
    return [int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, 0.75, value)]


def category_metadata(categories: Sequence[dict], source: str = "") -> Dict:
    """The category metadata keys (CATEGORY_METADATA_KEYS) of a COCO-panoptic "categories" list."""
    where = f"{source}: " if source else ""
    seen_ids = set()
    for category in categories:
        for key in ("id", "name", "isthing"):
            if key not in category:
                raise ValueError(f"{where}category {category} has no '{key}'")
        if category["id"] in seen_ids:
            raise ValueError(f"{where}category id {category['id']} appears more than once")
        seen_ids.add(category["id"])
    if not categories:
        raise ValueError(f"{where}the JSON lists no categories")

    def color(category, index):
        return list(category["color"]) if "color" in category else distinct_color(index)

    indexed = list(enumerate(categories))
    things = [(i, c) for i, c in indexed if c["isthing"]]
    stuff = [(i, c) for i, c in indexed if not c["isthing"]]
    return {
        "thing_classes": [c["name"] for _, c in things],
        "thing_colors": [color(c, i) for i, c in things],
        "thing_dataset_id_to_contiguous_id": {c["id"]: k for k, (_, c) in enumerate(things)},
        "stuff_classes": ["things"] + [c["name"] for _, c in stuff],
        "stuff_colors": [THINGS_STUFF_COLOR] + [color(c, i) for i, c in stuff],
        # Stuff contiguous ids start at 1: 0 is the shared 'things' class of the semantic branch.
        "stuff_dataset_id_to_contiguous_id": {c["id"]: k + 1 for k, (_, c) in enumerate(stuff)},
        "category_dataset_ids": [c["id"] for c in categories],
    }
