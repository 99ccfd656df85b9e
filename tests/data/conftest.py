"""Shared fixtures of the data tests: the COCO panoptic sample and throw-away dataset names."""
import itertools

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import panfpn_d2.data  # noqa: F401  (registers the built-in names, as users get them)
from tests.support.paths import COCO_SAMPLE as SAMPLE_DIR

_counter = itertools.count()


@pytest.fixture
def dataset_name():
    """A fresh dataset name, unregistered again after the test."""
    name = f"panfpn_test_dataset_{next(_counter)}"
    yield name
    for suffix in ("", "_train", "_val"):
        DatasetCatalog.pop(name + suffix, None)
        MetadataCatalog.pop(name + suffix, None)


@pytest.fixture
def coco_sample(dataset_name):
    """The COCO panoptic sample registered under ``dataset_name``; returns its name."""
    from panfpn_d2.data import register_panoptic_dataset

    register_panoptic_dataset(
        dataset_name,
        str(SAMPLE_DIR / "panoptic_examples.json"),
        str(SAMPLE_DIR / "input_images"),
        str(SAMPLE_DIR / "panoptic_examples"),
    )
    return dataset_name
