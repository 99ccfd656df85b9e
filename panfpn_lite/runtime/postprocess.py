"""From the graph's outputs at the resized input to predictions at the original image size, in
numpy: the semantic labels (detectron2's ``sem_seg_postprocess`` + argmax) and the instances
(``detector_postprocess``: box rescaling, clipping and mask pasting)."""
import math
from typing import Tuple

import numpy as np


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) matrix of 1-D bilinear resampling with half-pixel centres and edge
    clamping: PyTorch's ``F.interpolate(mode="bilinear", align_corners=False)`` along one axis."""
    source = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    source = np.maximum(source, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    high_weight = source - low
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1.0 - high_weight)
    np.add.at(matrix, (rows, high), high_weight)
    return matrix.astype(np.float32)


def semantic_labels(
    logits: np.ndarray, common_stride: int, resized_hw: Tuple[int, int], output_hw: Tuple[int, int]
) -> np.ndarray:
    """The (H, W) semantic labels at the output size of (1, C, h, w) logits at the common stride
    of the padded input: upsampled by the stride, cropped to the resized image, resized to the
    output size, argmax. The three linear steps along each axis are folded into one matrix."""
    _, _, height, width = logits.shape
    rows = bilinear_matrix(resized_hw[0], output_hw[0]) @ bilinear_matrix(height, height * common_stride)[: resized_hw[0]]
    columns = bilinear_matrix(resized_hw[1], output_hw[1]) @ bilinear_matrix(width, width * common_stride)[: resized_hw[1]]
    resampled = rows @ logits[0] @ columns.T
    return resampled.argmax(axis=0)


def rescale_boxes(boxes: np.ndarray, resized_hw: Tuple[int, int], output_hw: Tuple[int, int]):
    """(boxes at the output size clipped to it, which of them are non-empty)."""
    scale = np.array(
        [output_hw[1] / resized_hw[1], output_hw[0] / resized_hw[0]] * 2, dtype=np.float32
    )
    boxes = boxes.astype(np.float32) * scale
    limits = np.array([output_hw[1], output_hw[0]] * 2, dtype=np.float32)
    boxes = np.clip(boxes, 0, limits)
    nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes, nonempty


def _mask_sampling_matrix(start: int, stop: int, low: float, high: float, mask_size: int) -> np.ndarray:
    """(stop - start, mask_size) bilinear weights that sample a mask spanning [low, high] at the
    pixel centres start + 0.5, ..., with zeros outside it: ``F.grid_sample`` along one axis."""
    centres = np.arange(start, stop, dtype=np.float32) + np.float32(0.5)
    grid = (centres - np.float32(low)) / np.float32(high - low) * np.float32(2) - np.float32(1)
    source = ((grid + 1) * mask_size - 1) / 2
    low_index = np.floor(source).astype(np.int64)
    high_weight = source - low_index
    matrix = np.zeros((stop - start, mask_size), dtype=np.float32)
    for index, weight in ((low_index, 1 - high_weight), (low_index + 1, high_weight)):
        inside = (index >= 0) & (index < mask_size)
        matrix[np.flatnonzero(inside), index[inside]] += weight[inside]
    return matrix


def paste_masks(mask_probs: np.ndarray, boxes: np.ndarray, output_hw: Tuple[int, int], threshold: float) -> np.ndarray:
    """(N, H, W) bool masks: each (M, M) probability map resampled into its box and thresholded
    (``>= threshold``), like detectron2's ``paste_masks_in_image`` on the CPU, which samples only
    the box's extent grown by a pixel."""
    height, width = output_hw
    masks = np.zeros((len(boxes), height, width), dtype=bool)
    for mask, box, probs in zip(masks, boxes, mask_probs):
        x0, y0, x1, y1 = (float(v) for v in box)
        left, top = max(math.floor(x0) - 1, 0), max(math.floor(y0) - 1, 0)
        right, bottom = min(math.ceil(x1) + 1, width), min(math.ceil(y1) + 1, height)
        if right <= left or bottom <= top:
            continue
        rows = _mask_sampling_matrix(top, bottom, y0, y1, probs.shape[0])
        columns = _mask_sampling_matrix(left, right, x0, x1, probs.shape[1])
        mask[top:bottom, left:right] = rows @ probs.astype(np.float32) @ columns.T >= threshold
    return masks
