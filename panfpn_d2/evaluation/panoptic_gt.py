"""The COCO panoptic ground truth of a dataset (JSON + PNG folder), indexed by image id."""
import json
import os

import numpy as np
from detectron2.utils.file_io import PathManager

from .segment_codec import read_panoptic_png


def _require_metadata(metadata, key: str):
    if not hasattr(metadata, key):
        raise KeyError(f"dataset {metadata.name!r}: metadata has no {key!r}, which panoptic evaluation needs")
    return getattr(metadata, key)


class PanopticGroundTruth:
    """A COCO panoptic JSON (``images``, ``annotations`` with ``segments_info``, ``categories``)
    and the folder of its PNGs."""

    def __init__(self, json_file: str, png_folder: str):
        self.json_file = PathManager.get_local_path(json_file)
        self.png_folder = PathManager.get_local_path(png_folder)
        with open(self.json_file) as f:
            self.dataset = json.load(f)
        for key in ("images", "annotations", "categories"):
            if key not in self.dataset:
                raise KeyError(f"{self.json_file}: no {key!r} list (not a COCO panoptic JSON)")
        self.categories = {int(c["id"]): c for c in self.dataset["categories"]}
        self._annotations = {int(a["image_id"]): a for a in self.dataset["annotations"]}

    @classmethod
    def from_metadata(cls, metadata) -> "PanopticGroundTruth":
        """From detectron2 metadata's ``panoptic_json`` and ``panoptic_root``."""
        return cls(_require_metadata(metadata, "panoptic_json"), _require_metadata(metadata, "panoptic_root"))

    def annotation(self, image_id: int) -> dict:
        """The image's record: ``file_name`` (the PNG), ``segments_info`` (dataset category ids)."""
        try:
            return self._annotations[int(image_id)]
        except KeyError:
            raise KeyError(f"{self.json_file}: no annotation for image_id {image_id}") from None

    def id_map(self, image_id: int) -> np.ndarray:
        """The image's segment-id map (H, W), read from its PNG."""
        return read_panoptic_png(os.path.join(self.png_folder, self.annotation(image_id)["file_name"]))
