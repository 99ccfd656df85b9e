"""``panfpn-predict``'s output, written through the project's one prediction writer into a staging
folder and moved into place at the end, so a failure leaves no half-written file behind."""
import os
import shutil
import tempfile
from typing import List

import numpy as np

from ..prediction_writer import PNG_SUBDIR, PREDICTIONS_JSON, PanopticPredictionWriter, prediction_annotation


def write_panoptic_predictions(output_dir: str, predictions: List[dict], categories: List[dict]) -> List[str]:
    """Write the predictions, each ``{"image_id", "file_name" (of the input image), "id_map",
    "segments"}`` (dataset category ids), as COCO panoptic files; return the files written, the JSON last."""
    os.makedirs(output_dir, exist_ok=True)
    staging_dir = tempfile.mkdtemp(prefix=".panfpn-predict-", dir=output_dir)
    try:
        staging = PanopticPredictionWriter(staging_dir)
        images, annotations = [], []
        for prediction in predictions:
            id_map = np.asarray(prediction["id_map"], dtype=np.int64)
            annotation = prediction_annotation(id_map, prediction["segments"], prediction["image_id"])
            staging.write_png(id_map, annotation["file_name"])
            annotations.append(annotation)
            height, width = id_map.shape
            images.append(
                {"id": prediction["image_id"], "file_name": prediction["file_name"], "height": height, "width": width}
            )
        staging.write_json(images, annotations, categories)

        png_dir = os.path.join(output_dir, PNG_SUBDIR)
        os.makedirs(png_dir, exist_ok=True)
        written = []
        for annotation in annotations:
            path = os.path.join(png_dir, annotation["file_name"])
            os.replace(os.path.join(staging.png_dir, annotation["file_name"]), path)
            written.append(path)
        json_path = os.path.join(output_dir, PREDICTIONS_JSON)
        os.replace(staging.json_path, json_path)
        return written + [json_path]
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)
