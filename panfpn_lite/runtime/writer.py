"""COCO panoptic predictions on disk, in the layout of the demo's ``--write-panoptic``:
``OUT/panoptic_predictions.json`` and ``OUT/panoptic_predictions/<image name>.png``.

(The one prediction writer of the runtime; the project's shared writer can replace it.)
"""
import json
import os
import shutil
import tempfile
from typing import List

import numpy as np
from PIL import Image

PNG_SUBDIR = "panoptic_predictions"
PREDICTIONS_JSON = "panoptic_predictions.json"


def panoptic_annotation(id_map: np.ndarray, segments: List[dict], image_id: str) -> dict:
    """The COCO panoptic annotation of an id map whose ``segments`` carry dataset category ids
    (``id``, ``category_id``, ``isthing``, optional ``score``); segments left empty are dropped."""
    areas = np.bincount(id_map.ravel(), minlength=max([0] + [s["id"] for s in segments]) + 1)
    records = []
    for segment in segments:
        area = int(areas[segment["id"]])
        if area == 0:
            continue
        ys, xs = np.nonzero(id_map == segment["id"])
        record = {
            "id": int(segment["id"]),
            "category_id": int(segment["category_id"]),
            "isthing": int(bool(segment["isthing"])),
            "iscrowd": 0,
            "area": area,
            "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
        }
        if "score" in segment:
            record["score"] = float(segment["score"])
        records.append(record)
    return {"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": records}


def write_panoptic_predictions(output_dir: str, predictions: List[dict], categories: List[dict]) -> List[str]:
    """Write the predictions, each ``{"image_id", "file_name" (of the input image), "id_map",
    "segments"}``, and return the files written.

    Everything goes to a temporary folder inside ``output_dir`` first and is moved into place
    at the end, the JSON last: a failure leaves no half-written file behind.
    """
    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".panfpn-predict-", dir=output_dir)
    try:
        images, annotations = [], []
        for prediction in predictions:
            id_map = np.asarray(prediction["id_map"], dtype=np.int64)
            annotation = panoptic_annotation(id_map, prediction["segments"], prediction["image_id"])
            rgb = np.stack([id_map % 256, id_map // 256 % 256, id_map // 65536], axis=-1).astype(np.uint8)
            Image.fromarray(rgb).save(os.path.join(staging, annotation["file_name"]))
            annotations.append(annotation)
            height, width = id_map.shape
            images.append(
                {"id": prediction["image_id"], "file_name": prediction["file_name"], "height": height, "width": width}
            )
        with open(os.path.join(staging, PREDICTIONS_JSON), "w") as f:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, f)

        png_dir = os.path.join(output_dir, PNG_SUBDIR)
        os.makedirs(png_dir, exist_ok=True)
        written = []
        for annotation in annotations:
            path = os.path.join(png_dir, annotation["file_name"])
            os.replace(os.path.join(staging, annotation["file_name"]), path)
            written.append(path)
        json_path = os.path.join(output_dir, PREDICTIONS_JSON)
        os.replace(os.path.join(staging, PREDICTIONS_JSON), json_path)
        return written + [json_path]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
