"""Fixtures: the COCO panoptic sample (tests/conftest.py's sample_gt) registered as detectron2 metadata."""
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from panfpn_d2.data import register_panoptic_dataset
from tests.support.paths import COCO_SAMPLE as SAMPLE_DIR, SAMPLE_JSON, SAMPLE_PNG_DIR

SAMPLE_DATASET = "panfpn_test_evaluation_coco_sample"


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
