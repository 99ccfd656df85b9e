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

The HSV conversion is OpenCV's float one (H in [0, 360) degrees, S and V in [0, 1]) written in
numpy, so that training needs no opencv: it agrees with ``cv2.cvtColor`` to float32 rounding
(OpenCV's vectorised code orders its float operations differently; tests/data check both).
It is slower than OpenCV's (it runs in the data loader's workers, and only with INPUT.COLOR_AUG).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from detectron2.data import transforms as T

__all__ = ["PhotometricDistortion", "PhotometricDistortionTransform"]

# Where red, green and blue are in the last axis of an image of each INPUT.FORMAT.
_RGB_ORDER = {"BGR": [2, 1, 0], "RGB": [0, 1, 2]}
# HSV -> RGB: per sector of the hue circle (60 degrees each), which of (v, p, q, t) is r, g and b.
_SECTOR_RGB = np.array([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]])
_EPS = np.float32(np.finfo(np.float32).eps)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) float32 RGB in [0, 1] -> HSV, H in [0, 360) degrees, S and V in [0, 1] (OpenCV's float HSV)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    chroma = v - np.minimum(np.minimum(r, g), b)
    s = chroma / (v + _EPS)
    degrees_per_unit = np.float32(60.0) / (chroma + _EPS)
    # OpenCV's order: offset + difference * degrees_per_unit, as one fused multiply-add (float32
    # products are exact in float64, so the float64 sum is rounded once, as the fused one is).
    red_max, green_max = v == r, v == g
    difference = np.where(red_max, g - b, np.where(green_max, b - r, r - g))
    offset = np.where(
        red_max, np.where(g < b, np.float32(360.0), np.float32(0.0)), np.where(green_max, np.float32(120.0), np.float32(240.0))
    )
    h = (difference.astype(np.float64) * degrees_per_unit + offset).astype(np.float32)
    return np.stack([h, s, v], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    h = np.mod(h * np.float32(6.0 / 360.0), np.float32(6.0))
    sector = np.minimum(np.floor(h), np.float32(5.0))  # mod may round up to 6.0 itself
    f = h - sector
    sector = sector.astype(np.intp)
    one = np.float32(1.0)
    candidates = (v, v * (one - s), v * (one - s * f), v * (one - s * (one - f)))
    return np.stack([np.choose(sector, [candidates[i] for i in _SECTOR_RGB[:, c]]) for c in range(3)], axis=-1)


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
        order = _RGB_ORDER[self.image_format]  # its own inverse
        hsv = rgb_to_hsv((img / 255.0)[..., order].astype(np.float32))
        if self.params.saturation_factor is not None:
            hsv[..., 1] = np.clip(hsv[..., 1] * self.params.saturation_factor, 0.0, 1.0)
        if self.params.hue_delta is not None:
            hsv[..., 0] = np.mod(hsv[..., 0] + self.params.hue_delta, 360.0)
        return hsv_to_rgb(hsv)[..., order] * 255.0

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
        if image_format not in _RGB_ORDER:
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
