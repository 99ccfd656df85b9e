"""A checkpoint in detectron2's model-zoo file format (a pickle of {"model": numpy arrays,
"__author__": ...}, as model_final_*.pkl) loads into PanFPN built from this plugin's shipped
config through detectron2's DetectionCheckpointer (what MODEL.WEIGHTS does) with every key used
and none missing, and gives detectron2's PanopticFPN's outputs with the same file."""
import logging
import pickle

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from panfpn_d2.config import load_config
from panfpn_d2.model_zoo import get_config_file
from tests.modeling.test_detectron2_parity import models  # noqa: F401  (the fixture: detectron2's R50 PanopticFPN)
from tests.modeling.test_detectron2_parity import test_same_outputs_on_real_images as assert_same_outputs
from tests.support.paths import COCO_SAMPLE

ZOO_AUTHOR = "Detectron2 Model Zoo"


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def write_zoo_checkpoint(model, path):
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in model.state_dict().items()}, "__author__": ZOO_AUTHOR}, f)


@pytest.fixture(scope="module")
def loaded(models, tmp_path_factory):  # noqa: F811
    """(detectron2's model, the zoo-format file written from it, PanFPN of panfpn_R_50_1x.yaml loaded from it, load log)."""
    theirs, _ = models
    path = str(tmp_path_factory.mktemp("zoo") / "model_final.pkl")
    write_zoo_checkpoint(theirs, path)
    cfg = load_config(get_config_file("COCO-PanopticSegmentation/panfpn_R_50_1x.yaml"), ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    ours = build_model(cfg).eval()
    checkpointer = DetectionCheckpointer(ours)
    records, level = Records(), checkpointer.logger.level
    checkpointer.logger.addHandler(records)
    checkpointer.logger.setLevel(logging.INFO)
    try:
        checkpointer.load(path)
    finally:
        checkpointer.logger.removeHandler(records)
        checkpointer.logger.setLevel(level)
    return theirs, path, ours, records.messages


def test_zoo_file_loads_into_the_shipped_config_with_no_missing_or_unexpected_keys(loaded):
    theirs, path, ours, log = loaded
    assert f"Reading a file from '{ZOO_AUTHOR}'" in log  # detectron2's zoo-format path, no key renaming
    with open(path, "rb") as f:
        in_file = pickle.load(f)["model"]
    ours_state = ours.state_dict()
    assert {k: v.shape for k, v in in_file.items()} == {k: tuple(v.shape) for k, v in ours_state.items()}
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours_state[key], value), key
    assert not [m for m in log if "not found in the checkpoint" in m or "not used by the model" in m or "Skip" in m], log


@pytest.mark.parametrize("image_file", sorted(p.name for p in (COCO_SAMPLE / "input_images").glob("*.jpg"))[:1])
def test_same_outputs_as_detectron2_with_the_same_file(loaded, image_file):
    theirs, _, ours, _ = loaded
    assert_same_outputs((theirs, ours), image_file)
