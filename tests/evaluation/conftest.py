"""Fixtures: the COCO panoptic sample, read once, and registered as detectron2 metadata."""
import json

import pytest

from evaluation.eval_helpers import SAMPLE_DIR, SAMPLE_JSON, SAMPLE_PNG_DIR, register_metadata
from panfpn_d2.evaluation.segment_codec import read_panoptic_png


@pytest.fixture(scope="session")
def sample_gt():
    """The COCO sample: its JSON dict and each image's segment-id map, keyed by image id."""
    if not SAMPLE_JSON.exists():
        pytest.skip(f"COCO panoptic sample missing: {SAMPLE_JSON}")
    dataset = json.loads(SAMPLE_JSON.read_text())
    id_maps = {a["image_id"]: read_panoptic_png(str(SAMPLE_PNG_DIR / a["file_name"])) for a in dataset["annotations"]}
    return dataset, id_maps


@pytest.fixture(scope="session")
def sample_metadata(sample_gt):
    dataset, _ = sample_gt
    return register_metadata(
        "panfpn_test_coco_sample",
        dataset["categories"],
        panoptic_json=str(SAMPLE_JSON),
        panoptic_root=str(SAMPLE_PNG_DIR),
        image_root=str(SAMPLE_DIR / "input_images"),
    )
