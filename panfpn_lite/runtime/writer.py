"""``panfpn-predict``'s output, written through the project's one prediction writer into a staging
folder and moved into place at the end, so a failure leaves no half-written file behind."""
import os
import shutil
import tempfile
from typing import List

from ..panoptic_format import DatasetCategoryIds
from ..prediction_writer import PNG_SUBDIR, PREDICTIONS_JSON, PanopticPredictionWriter, image_record


def write_panoptic_predictions(
    output_dir: str, predictions: List[dict], categories: List[dict], category_ids: DatasetCategoryIds
) -> List[str]:
    """Write the predictions, each ``{"image_id", "file_name" (of the input image), "id_map",
    "segments"}`` (contiguous category ids, mapped by ``category_ids``), as COCO panoptic files;
    return the files written, the JSON last."""
    os.makedirs(output_dir, exist_ok=True)
    staging_dir = tempfile.mkdtemp(prefix=".panfpn-predict-", dir=output_dir)
    try:
        staging = PanopticPredictionWriter(staging_dir, category_ids)
        images, annotations = [], []
        for prediction in predictions:
            annotations.append(
                staging.write_prediction(prediction["image_id"], prediction["id_map"], prediction["segments"])
            )
            images.append(image_record(prediction["image_id"], prediction["file_name"], prediction["id_map"]))
        staging.write_json(images, annotations, categories)

        png_dir = os.path.join(output_dir, PNG_SUBDIR)
        os.makedirs(png_dir, exist_ok=True)
        written = []
        for annotation in annotations:
            path = os.path.join(png_dir, annotation["file_name"])
            os.replace(staging.png_path(annotation), path)
            written.append(path)
        json_path = os.path.join(output_dir, PREDICTIONS_JSON)
        os.replace(staging.json_path, json_path)
        return written + [json_path]
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)
