"""PQ and pixel agreement of predictions on the trained toy's images (train and val): the reduced
precision tests compare fp32 with bf16 and int8 by them."""
import json
import shutil
from pathlib import Path

from panfpn_lite.panoptic_format import DatasetCategoryIds, read_panoptic_png
from panfpn_lite.pq import pq_compute
from panfpn_lite.prediction_writer import PNG_SUBDIR, PREDICTIONS_JSON, PanopticPredictionWriter, image_record

from .panoptic_agreement import category_agreement

TOY_SPLITS = ("train", "val")


def toy_root_of(images) -> Path:
    """The toy dataset's root, from the trained toy's image paths (``<root>/<split>/images/*``)."""
    return images[0].parents[2]


def toy_ground_truth(toy_root: Path, folder: Path) -> Path:
    """The toy's train and val ground truth as one COCO panoptic JSON in ``folder`` (PNGs in
    ``folder/gt``), image ids the file names' stems, as the prediction writers write them; its path."""
    gt = {"annotations": [], "images": []}
    png_folder = folder / "gt"
    png_folder.mkdir()
    for split in TOY_SPLITS:
        content = json.loads((toy_root / f"panoptic_{split}.json").read_text())
        stems = {image["id"]: image["file_name"].rsplit(".", 1)[0] for image in content["images"]}
        gt["categories"] = content["categories"]
        gt["images"] += [dict(image, id=stems[image["id"]]) for image in content["images"]]
        gt["annotations"] += [dict(a, image_id=stems[a["image_id"]]) for a in content["annotations"]]
        for png in (toy_root / split / "panoptic").glob("*.png"):
            shutil.copy(png, png_folder)
    path = folder / "gt.json"
    path.write_text(json.dumps(gt))
    return path


def toy_pq(images, predictions_dir: Path, work_dir: Path) -> float:
    """PQ (in points) of the predictions written in ``predictions_dir`` (a prediction writer's
    layout) on the trained toy's images."""
    gt_json = toy_ground_truth(toy_root_of(images), work_dir)
    results = pq_compute(str(gt_json), str(predictions_dir / PREDICTIONS_JSON), str(work_dir / "gt"),
                         str(predictions_dir / PNG_SUBDIR))
    return 100 * results["All"]["pq"]


def pixel_agreement(expected: dict, actual: dict) -> float:
    """The fraction of all images' pixels of the same category in both {image: (id map, segments)}."""
    same = total = 0
    for name, panoptic in expected.items():
        pixels = panoptic[0].size
        same += category_agreement(panoptic, actual[name]) * pixels
        total += pixels
    return same / total


def read_panoptic(output: Path) -> dict:
    """{image file name: (id map, segments with isthing)} of a prediction writer's folder."""
    predictions = json.loads((output / PREDICTIONS_JSON).read_text())
    isthing = {c["id"]: c["isthing"] for c in predictions["categories"]}
    return {
        annotation["file_name"]: (
            read_panoptic_png(str(output / PNG_SUBDIR / annotation["file_name"])),
            [dict(s, isthing=isthing[s["category_id"]]) for s in annotation["segments_info"]],
        )
        for annotation in predictions["annotations"]
    }


def write_predictions(predictions: dict, metadata, categories, output: Path) -> Path:
    """Write {image path: (id map, segments with contiguous ids)} (the eager model's) as the
    prediction writer does, image ids the files' stems; return ``output``."""
    writer = PanopticPredictionWriter(str(output), DatasetCategoryIds.of_dataset(metadata))
    records, annotations = [], []
    for path, (id_map, segments) in predictions.items():
        annotations.append(writer.write_prediction(path.stem, id_map, segments))
        records.append(image_record(path.stem, path.name, id_map))
    writer.write_json(records, annotations, categories)
    return output
