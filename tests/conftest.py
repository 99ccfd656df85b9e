"""Fixtures every test folder shares; shared code lives in tests/support (pytest.ini puts the repository
root on sys.path, so tests import it as ``tests.support.<module>``)."""
import json

import pytest
import torch


from panfpn_lite.panoptic_format import read_panoptic_png
from tests.support.paths import SAMPLE_JSON, SAMPLE_PNG_DIR
from tests.support.trained_toy import train_toy
from tests.support.training import make_training_inputs

# The machine's other users get the remaining cores.
torch.set_num_threads(2)


@pytest.fixture
def training_inputs():
    return make_training_inputs()


@pytest.fixture(scope="session")
def sample_gt():
    """The COCO sample: its JSON dict and each image's segment-id map, keyed by image id."""
    dataset = json.loads(SAMPLE_JSON.read_text())
    id_maps = {a["image_id"]: read_panoptic_png(str(SAMPLE_PNG_DIR / a["file_name"])) for a in dataset["annotations"]}
    return dataset, id_maps


TOY_ITERATIONS = 12
# Enough for the val image to score PQ > 0 on both install routes (after 12 iterations detectron2
# main's compiled ops train the toy to PQ 0 on it): for tests whose comparisons need non-zero PQ.
SCORING_TOY_ITERATIONS = 40


@pytest.fixture(scope="session")
def trained_toy(tmp_path_factory):
    """(cfg, images) of the toy trained 12 iterations (:func:`train_toy`)."""
    return train_toy(tmp_path_factory.mktemp("toy"), TOY_ITERATIONS)


@pytest.fixture(scope="session")
def scoring_toy(tmp_path_factory):
    """(cfg, images) of the toy trained 40 iterations (:func:`train_toy`)."""
    return train_toy(tmp_path_factory.mktemp("toy40"), SCORING_TOY_ITERATIONS)
