"""The runtime's numpy post-processing against detectron2's on hand-made inputs: box rescaling,
clipping and mask pasting (``detector_postprocess`` with ``paste_masks_in_image``) and the semantic
labels (``sem_seg_postprocess`` + argmax)."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from detectron2.modeling.postprocessing import detector_postprocess, sem_seg_postprocess
from detectron2.structures import Boxes, Instances

from panfpn_lite.runtime.postprocess import paste_masks, rescale_boxes, semantic_labels

RESIZED_HW = (40, 60)  # the model's input, without padding

# (x0, y0, x1, y1) at the resized size: inside, across each border, exactly on the borders,
# beyond them (empty once clipped), sub-pixel and degenerate.
BOXES = np.array(
    [
        [10.3, 5.7, 30.2, 25.1],
        [20.05, 10.02, 50.0, 35.0],  # large, just past a pixel edge: the pixels before it get mask weight
        [-4.2, -3.5, 12.6, 9.9],     # across the top-left corner
        [48.1, 30.4, 63.7, 44.9],    # across the bottom-right corner
        [0.0, 0.0, 60.0, 40.0],      # the whole image, exactly
        [55.5, 12.0, 60.0, 20.0],    # ends exactly on the right border
        [20.0, 36.2, 27.5, 40.0],    # ends exactly on the bottom border
        [59.6, 2.0, 75.0, 9.0],      # starts in the last column
        [61.0, 5.0, 70.0, 15.0],     # right of the image: empty once clipped
        [5.0, -9.0, 15.0, -1.0],     # above the image: empty once clipped
        [33.3, 17.1, 33.8, 17.4],    # smaller than a pixel
        [12.0, 12.0, 12.0, 20.0],    # zero width
    ],
    dtype=np.float32,
)


def detectron2_postprocess(boxes, mask_probs, output_hw, mask_threshold):
    """detectron2's Instances after ``detector_postprocess`` (what the model returns per image)."""
    instances = Instances(
        RESIZED_HW,
        pred_boxes=Boxes(torch.tensor(boxes)),  # a copy: detectron2 scales it in place
        pred_masks=torch.from_numpy(mask_probs)[:, None],
        scores=torch.arange(len(boxes), dtype=torch.float32),
    )
    return detector_postprocess(instances, output_hw[0], output_hw[1], mask_threshold)


@pytest.mark.parametrize("output_hw", [(40, 60), (67, 101), (23, 35), (80, 120)], ids=str)
@pytest.mark.parametrize("mask_size", [28, 14])
# The export's 0.5, and a lower one under which the pixels just outside a box count too.
@pytest.mark.parametrize("mask_threshold", [0.5, 0.2])
def test_boxes_and_pasted_masks_match_detector_postprocess(output_hw, mask_size, mask_threshold):
    mask_probs = np.random.default_rng(mask_size).random((len(BOXES), mask_size, mask_size), dtype=np.float32)
    expected = detectron2_postprocess(BOXES, mask_probs, output_hw, mask_threshold)

    boxes, nonempty = rescale_boxes(BOXES, RESIZED_HW, output_hw)
    masks = paste_masks(mask_probs[nonempty], boxes[nonempty], output_hw, mask_threshold)

    kept = expected.scores.long().numpy()  # detectron2 drops the empty boxes: which are left
    np.testing.assert_array_equal(np.flatnonzero(nonempty), kept)
    assert 0 < len(kept) < len(BOXES)
    np.testing.assert_array_equal(boxes[nonempty], expected.pred_boxes.tensor.numpy())
    assert masks.shape == (len(kept), *output_hw)
    np.testing.assert_array_equal(masks, expected.pred_masks.numpy())
    # The masks touching the right and bottom borders reach the last column and row.
    assert masks[:, :, -1].any() and masks[:, -1, :].any()


@pytest.mark.parametrize("output_hw", [(40, 60), (67, 101), (23, 35)], ids=str)
@pytest.mark.parametrize("common_stride", [4, 8])
def test_semantic_labels_match_sem_seg_postprocess(output_hw, common_stride):
    # Logits at the common stride of the input padded to a multiple of 32 (64 x 64).
    logits = np.random.default_rng(common_stride).standard_normal((1, 5, 64 // common_stride, 64 // common_stride))
    logits = logits.astype(np.float32)
    upsampled = F.interpolate(torch.from_numpy(logits), scale_factor=common_stride, mode="bilinear", align_corners=False)
    expected = sem_seg_postprocess(upsampled[0], RESIZED_HW, *output_hw).argmax(dim=0).numpy()
    actual = semantic_labels(logits, common_stride, RESIZED_HW, output_hw)
    assert actual.shape == output_hw
    # The runtime folds three resamplings into one matrix product: float32 rounding differs, so a
    # near-tie between two classes may flip.
    assert (actual == expected).mean() >= 0.999
