"""The one writer of panoptic predictions as COCO panoptic files: ``<output_dir>/panoptic_predictions/``
(one PNG per image) and ``<output_dir>/panoptic_predictions.json``. The evaluator
(TEST.WRITE_PANOPTIC_PNG), the demo (``--write-panoptic``) and ``panfpn-predict`` all write through it.
"""
import json
import os
from typing import List, Sequence

import numpy as np

from .panoptic_format import segment_areas, segment_box, segment_info, write_panoptic_png

PNG_SUBDIR = "panoptic_predictions"
PREDICTIONS_JSON = "panoptic_predictions.json"


def prediction_annotation(id_map: np.ndarray, segments: Sequence[dict], image_id) -> dict:
    """The COCO panoptic annotation of a predicted segment-id map whose ``segments`` carry dataset
    category ids (``id``, ``category_id``, optional ``score``); segments left empty are dropped."""
    areas = segment_areas(id_map, [s["id"] for s in segments])
    records = [
        segment_info(
            s["id"], s["category_id"], areas[int(s["id"])], bbox=segment_box(id_map == s["id"]), score=s.get("score")
        )
        for s in segments
        if areas[int(s["id"])] > 0
    ]
    return {"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": records}


class PanopticPredictionWriter:
    """Writes prediction PNGs, one call per image (any process), and the JSON once (one process)."""

    def __init__(self, output_dir: str):
        if not output_dir:
            raise ValueError("PanopticPredictionWriter needs an output_dir")
        self.output_dir = output_dir
        self.png_dir = os.path.join(output_dir, PNG_SUBDIR)
        self.json_path = os.path.join(output_dir, PREDICTIONS_JSON)
        os.makedirs(self.png_dir, exist_ok=True)

    def write_png(self, id_map: np.ndarray, file_name: str) -> str:
        """Write one image's segment-id map as ``panoptic_predictions/<file_name>``; return its path."""
        path = os.path.join(self.png_dir, file_name)
        write_panoptic_png(id_map, path)
        return path

    def write_json(self, images: List[dict], annotations: List[dict], categories: List[dict], **extra) -> str:
        """Write the COCO panoptic JSON (``extra``: further top-level keys, e.g. the ground truth's
        "info"); return its path. ``annotations`` name their PNG by ``file_name``."""
        with open(self.json_path, "w") as f:
            json.dump(dict(extra, images=images, annotations=annotations, categories=categories), f)
        return self.json_path
