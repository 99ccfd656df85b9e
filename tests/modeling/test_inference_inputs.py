"""Unusual images at inference, through the model and through detectron2's DefaultPredictor: a 1x1
image and extreme aspect ratios give outputs of the right size with a panoptic map that agrees with
its segments_info; empty, grayscale and RGBA images raise a ValueError saying what is wrong."""
import re

import numpy as np
import pytest
import torch

from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model

from tests.support.configs import tiny_cfg

NUM_THING, NUM_SEM = 80, 54
# Detections down to score 0 and stuff regions down to 1 pixel are kept, so that the merge has things
# and stuff to place even in an untrained model. FPN and semantic widths of 64 give GroupNorm's 32
# groups 2 channels each: a 1x1 image's stride-32 feature map holds one value per channel, and a
# group of one value cannot be normalized.
OPTS = (
    "MODEL.FPN.OUT_CHANNELS", 64,
    "MODEL.SEM_SEG_HEAD.CONVS_DIM", 64,
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
    "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", 0.0,
    "MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT", 1,
    "TEST.DETECTIONS_PER_IMAGE", 20,
    "INPUT.MIN_SIZE_TEST", 64,
    "INPUT.MAX_SIZE_TEST", 512,
)
GOOD_SHAPES = [(1, 1), (16, 2000), (2000, 16)]
BAD_IMAGES = {  # (C, H, W) tensor shape -> what the error says
    (3, 0, 40): "the image is empty",
    (3, 40, 0): "the image is empty",
    (1, 48, 64): "C = 3 channels",
    (48, 64): "C = 3 channels",
    (4, 48, 64): "C = 3 channels",
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(tiny_cfg("Base-PanFPN.yaml", *OPTS)).eval()


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return DefaultPredictor(tiny_cfg("Base-PanFPN.yaml", *OPTS))


def _image(shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32))


def assert_consistent(output, height, width):
    assert output["sem_seg"].shape == (NUM_SEM, height, width) and torch.isfinite(output["sem_seg"]).all()
    instances = output["instances"]
    assert instances.image_size == (height, width) and len(instances) > 0
    boxes = instances.pred_boxes.tensor
    assert (boxes >= 0).all() and (boxes[:, 0::2] <= width).all() and (boxes[:, 1::2] <= height).all()
    assert instances.pred_masks.shape[1:] == (height, width)
    pan, segments = output["panoptic_seg"]
    assert pan.shape == (height, width)
    assert set(pan.unique().tolist()) - {0} == {s["id"] for s in segments}
    assert len(segments) > 0
    for s in segments:
        if s["isthing"]:
            assert 0 <= s["category_id"] < NUM_THING
        else:
            assert 1 <= s["category_id"] < NUM_SEM and s["area"] == (pan == s["id"]).sum()


@pytest.mark.parametrize("shape", GOOD_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_model_handles_tiny_and_extreme_aspect_images(model, shape):
    with torch.no_grad():
        (output,) = model([{"image": _image((3, *shape))}])
    assert_consistent(output, *shape)


def test_model_output_at_the_requested_size(model):
    with torch.no_grad():
        (output,) = model([{"image": _image((3, 1, 1)), "height": 3, "width": 700}])
    assert_consistent(output, 3, 700)


@pytest.mark.parametrize("shape, problem", BAD_IMAGES.items(), ids=str)
def test_model_rejects_bad_images_naming_the_problem(model, shape, problem):
    batch = [{"image": _image((3, 32, 32))}, {"image": _image(shape)}]
    with torch.no_grad(), pytest.raises(ValueError, match=re.escape(f"batched_inputs[1]['image'] of shape {shape}: ") + ".*" + problem):
        model(batch)


@pytest.mark.parametrize("shape", GOOD_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_default_predictor_handles_tiny_and_extreme_aspect_images(predictor, shape):
    output = predictor(np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8))
    assert_consistent(output, *shape)


@pytest.mark.parametrize("channels", [1, 4])
def test_default_predictor_rejects_grayscale_and_rgba(predictor, channels):
    with pytest.raises(ValueError, match="C = 3 channels"):
        predictor(np.random.default_rng(0).integers(0, 256, (48, 64, channels), dtype=np.uint8))
