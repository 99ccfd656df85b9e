"""SSD's photometric distortion, the paper's "color augmentation [40]" ([40]: Liu et al., SSD, ECCV 2016).

Written from SSD's description of its colour augmentation: a random brightness shift, a random
contrast scaling, and in HSV a random saturation scaling and hue shift, each applied with
probability 1/2, with the contrast step either before or after the HSV steps (a coin toss).
Defaults are SSD's: brightness delta in [-32, 32], contrast and saturation factors in
[0.5, 1.5], hue delta in [-18, 18] degrees.

Differences from SSD's pipeline, on purpose: SSD's random channel swap is left out (the paper
names colour augmentation only, and a channel swap changes which colour a class has); the image
is clipped to [0, 255] before the HSV conversion and at the end (HSV of out-of-range values is
not defined) and returned in its input dtype.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from detectron2.data import transforms as T

__all__ = ["PhotometricDistortion", "PhotometricDistortionTransform"]

_TO_HSV = {"BGR": cv2.COLOR_BGR2HSV, "RGB": cv2.COLOR_RGB2HSV}
_FROM_HSV = {"BGR": cv2.COLOR_HSV2BGR, "RGB": cv2.COLOR_HSV2RGB}


@dataclass(frozen=True)
class DistortionParams:
    """One draw of the distortion; a component left None is not applied."""

    brightness_delta: Optional[float]
    contrast_factor: Optional[float]
    saturation_factor: Optional[float]
    hue_delta: Optional[float]
    contrast_first: bool


class PhotometricDistortionTransform(T.Transform):
    """A drawn photometric distortion: changes image colours only; coordinates, boxes and
    segmentation maps pass through unchanged."""

    def __init__(self, params: DistortionParams, image_format: str):
        super().__init__()
        self.params = params
        self.image_format = image_format

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"PhotometricDistortion needs an (H, W, 3) image, got shape {img.shape}")
        p = self.params
        out = img.astype(np.float32)
        if p.brightness_delta is not None:
            out += p.brightness_delta
        if p.contrast_first:
            out = self._contrast(out)
        if p.saturation_factor is not None or p.hue_delta is not None:
            out = self._hsv(np.clip(out, 0.0, 255.0))
        if not p.contrast_first:
            out = self._contrast(out)
        out = np.clip(out, 0.0, 255.0)
        if img.dtype == np.uint8:
            return np.rint(out).astype(np.uint8)
        return out.astype(img.dtype)

    def _contrast(self, img: np.ndarray) -> np.ndarray:
        factor = self.params.contrast_factor
        return img if factor is None else img * factor

    def _hsv(self, img: np.ndarray) -> np.ndarray:
        # OpenCV's float HSV: H in [0, 360) degrees, S and V in [0, 1] for an image in [0, 1].
        hsv = cv2.cvtColor(img / 255.0, _TO_HSV[self.image_format])
        if self.params.saturation_factor is not None:
            hsv[..., 1] = np.clip(hsv[..., 1] * self.params.saturation_factor, 0.0, 1.0)
        if self.params.hue_delta is not None:
            hsv[..., 0] = np.mod(hsv[..., 0] + self.params.hue_delta, 360.0)
        return cv2.cvtColor(hsv, _FROM_HSV[self.image_format]) * 255.0

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation


class PhotometricDistortion(T.Augmentation):
    """Draws a :class:`PhotometricDistortionTransform` from numpy's global RNG (seeded per data
    loader worker by detectron2), as detectron2's own augmentations do."""

    def __init__(
        self,
        image_format: str = "BGR",
        *,
        brightness_delta: float = 32.0,
        contrast_range: Tuple[float, float] = (0.5, 1.5),
        saturation_range: Tuple[float, float] = (0.5, 1.5),
        hue_delta: float = 18.0,
        prob: float = 0.5,
    ):
        """
        Args:
            image_format: channel order of the images, "BGR" or "RGB" (INPUT.FORMAT).
            brightness_delta: added value drawn from [-delta, delta] (0-255 scale).
            contrast_range, saturation_range: multiplicative factor ranges.
            hue_delta: hue shift drawn from [-delta, delta] degrees.
            prob: probability of applying each of the four components.
        """
        super().__init__()
        if image_format not in _TO_HSV:
            raise ValueError(
                f"PhotometricDistortion (INPUT.COLOR_AUG) needs INPUT.FORMAT 'BGR' or 'RGB', got {image_format!r}"
            )
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"PhotometricDistortion: prob must be in [0, 1], got {prob}")
        self.image_format = image_format
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = hue_delta
        self.prob = prob

    def _maybe(self, low: float, high: float) -> Optional[float]:
        return float(np.random.uniform(low, high)) if np.random.rand() < self.prob else None

    def get_transform(self, image) -> PhotometricDistortionTransform:
        params = DistortionParams(
            brightness_delta=self._maybe(-self.brightness_delta, self.brightness_delta),
            contrast_factor=self._maybe(*self.contrast_range),
            saturation_factor=self._maybe(*self.saturation_range),
            hue_delta=self._maybe(-self.hue_delta, self.hue_delta),
            contrast_first=bool(np.random.rand() < 0.5),
        )
        return PhotometricDistortionTransform(params, self.image_format)
