"""The one writer of panoptic predictions as COCO panoptic files: ``<output_dir>/panoptic_predictions/``
(one PNG per image) and ``<output_dir>/panoptic_predictions.json``. The evaluator
(TEST.WRITE_PANOPTIC_PNG, and the test-dev submission), the demo (``--write-panoptic``) and
``panfpn-predict`` all write through it, so one prediction gives the same files from every tool.

A prediction is a segment-id map and its segments (detectron2's ``segments_info``: ``id``,
``isthing``, contiguous ``category_id``, optional ``score``). Written, its non-empty segments are
renumbered 1..K in their listed order (the map's other ids become void, 0) and carry dataset
category ids.
"""
import json
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .panoptic_format import DatasetCategoryIds, segment_box, segment_info, write_panoptic_png

PNG_SUBDIR = "panoptic_predictions"
PREDICTIONS_JSON = "panoptic_predictions.json"


def renumbered_segments(id_map: np.ndarray, segments: Sequence[dict]) -> Tuple[np.ndarray, List[dict], List[int]]:
    """(the id map with segment ids 1..K, the K non-empty segments with those ids, their areas)."""
    ids, counts = np.unique(id_map, return_counts=True)
    area_of = dict(zip(ids.tolist(), counts.tolist()))
    present = [s for s in segments if area_of.get(int(s["id"]), 0) > 0]
    source_ids = [int(s["id"]) for s in present]
    compact_ids = list(range(1, len(present) + 1))
    renumbered = [dict(s, id=new_id) for s, new_id in zip(present, compact_ids)]
    areas = [area_of[i] for i in source_ids]
    if source_ids == compact_ids and set(area_of) - {0} <= set(source_ids):
        return id_map, renumbered, areas
    order = np.argsort(source_ids)
    sorted_sources = np.asarray(source_ids, dtype=np.int64)[order]
    sorted_compact = np.asarray(compact_ids, dtype=np.int64)[order]
    if not len(sorted_sources):
        return np.zeros(id_map.shape, dtype=np.int64), renumbered, areas
    position = np.minimum(np.searchsorted(sorted_sources, id_map), len(sorted_sources) - 1)
    return np.where(sorted_sources[position] == id_map, sorted_compact[position], 0), renumbered, areas


def prediction_annotation(
    id_map: np.ndarray, segments: Sequence[dict], image_id, png_name: str, category_ids: DatasetCategoryIds
) -> Tuple[np.ndarray, dict]:
    """(the id map to write, the COCO panoptic annotation of the prediction) -- see the module docstring."""
    id_map = np.asarray(id_map, dtype=np.int64)
    compact_map, renumbered, areas = renumbered_segments(id_map, segments)
    records = [
        segment_info(
            s["id"],
            category_ids.of_segment(s, image_id),
            area,
            bbox=segment_box(compact_map == s["id"]),
            score=s.get("score"),
        )
        for s, area in zip(renumbered, areas)
    ]
    return compact_map, {"image_id": image_id, "file_name": png_name, "segments_info": records}


def image_record(image_id, file_name: str, id_map: np.ndarray) -> dict:
    """The JSON's "images" entry of a predicted image (its input file's name, its size)."""
    height, width = np.shape(id_map)
    return {"id": image_id, "file_name": file_name, "height": int(height), "width": int(width)}


class PanopticPredictionWriter:
    """Writes prediction PNGs, one call per image (any process), and the JSON once (one process)."""

    def __init__(self, output_dir: str, category_ids: DatasetCategoryIds):
        if not output_dir:
            raise ValueError("PanopticPredictionWriter needs an output_dir")
        self.output_dir = output_dir
        self.category_ids = category_ids
        self.png_dir = os.path.join(output_dir, PNG_SUBDIR)
        self.json_path = os.path.join(output_dir, PREDICTIONS_JSON)
        os.makedirs(self.png_dir, exist_ok=True)

    def write_prediction(self, image_id, id_map: np.ndarray, segments: Sequence[dict], png_name: Optional[str] = None) -> dict:
        """Write one image's PNG as ``panoptic_predictions/<png_name>`` (default ``<image_id>.png``);
        return its annotation for :meth:`write_json`."""
        compact_map, annotation = prediction_annotation(
            id_map, segments, image_id, png_name or f"{image_id}.png", self.category_ids
        )
        # Written under a temporary name and renamed: a PNG in place is always whole (a re-run of
        # panfpn-predict trusts the PNGs it finds).
        path = self.png_path(annotation)
        partial = os.path.join(self.png_dir, f".partial-{annotation['file_name']}")
        write_panoptic_png(compact_map, partial)
        os.replace(partial, path)
        return annotation

    def png_path(self, annotation: dict) -> str:
        return os.path.join(self.png_dir, annotation["file_name"])

    def write_json(self, images: List[dict], annotations: List[dict], categories: List[dict], **extra) -> str:
        """Write the COCO panoptic JSON (``extra``: further top-level keys, e.g. the ground truth's
        "info"); return its path."""
        with open(self.json_path, "w") as f:
            json.dump(dict(extra, images=images, annotations=annotations, categories=categories), f)
        return self.json_path
