"""Fixtures: the COCO panoptic sample, read once, and registered as detectron2 metadata."""
import json

import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from evaluation.eval_helpers import SAMPLE_DIR, SAMPLE_JSON, SAMPLE_PNG_DIR
from panfpn_d2.data import register_panoptic_dataset
from panfpn_lite.panoptic_format import read_panoptic_png

SAMPLE_DATASET = "panfpn_test_evaluation_coco_sample"


@pytest.fixture(scope="session")
def sample_gt():
    """The COCO sample: its JSON dict and each image's segment-id map, keyed by image id."""
    dataset = json.loads(SAMPLE_JSON.read_text())
    id_maps = {a["image_id"]: read_panoptic_png(str(SAMPLE_PNG_DIR / a["file_name"])) for a in dataset["annotations"]}
    return dataset, id_maps


@pytest.fixture(scope="session")
def sample_metadata(sample_gt):
    """The sample registered as a detectron2 dataset (the data package's registration)."""
    if SAMPLE_DATASET not in DatasetCatalog:
        register_panoptic_dataset(
            SAMPLE_DATASET,
            str(SAMPLE_JSON),
            str(SAMPLE_DIR / "input_images"),
            str(SAMPLE_PNG_DIR),
            categories=sample_gt[0]["categories"],
        )
    return MetadataCatalog.get(SAMPLE_DATASET)
