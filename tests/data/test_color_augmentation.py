"""SSD's photometric distortion (the paper's colour augmentation [40])."""
import numpy as np
import pytest
from detectron2.data import transforms as T

from panfpn_d2.data import color_augmentation
from panfpn_d2.data.color_augmentation import (
    DistortionParams,
    PhotometricDistortion,
    PhotometricDistortionTransform,
)


def colourful_image(seed=0, dtype=np.uint8):
    rng = np.random.RandomState(seed)
    return rng.randint(20, 236, size=(24, 32, 3)).astype(dtype)


def transform(image_format, **params):
    """A transform applying only the given components to images in ``image_format``."""
    base = dict(brightness_delta=None, contrast_factor=None, saturation_factor=None, hue_delta=None,
                contrast_first=True)
    return PhotometricDistortionTransform(DistortionParams(**{**base, **params}), image_format)


def only(**params):
    """A transform applying only the given components to BGR images."""
    return transform("BGR", **params)


def draw_and_apply(seed, image):
    np.random.seed(seed)
    aug_input = T.AugInput(image.copy(), sem_seg=np.arange(24 * 32, dtype=np.uint8).reshape(24, 32) % 7)
    transforms = T.AugmentationList([PhotometricDistortion("BGR")])(aug_input)
    return aug_input, transforms


def test_deterministic_under_a_seeded_rng():
    image = colourful_image()
    first, _ = draw_and_apply(3, image)
    second, _ = draw_and_apply(3, image)
    np.testing.assert_array_equal(first.image, second.image)
    outputs = {draw_and_apply(seed, image)[0].image.tobytes() for seed in range(8)}
    assert len(outputs) > 4  # different draws for different seeds


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_dtype_and_range_preserved_and_labels_untouched(dtype):
    image = colourful_image(dtype=dtype)
    for seed in range(20):
        aug_input, transforms = draw_and_apply(seed, image)
        assert aug_input.image.dtype == dtype and aug_input.image.shape == image.shape
        assert aug_input.image.min() >= 0 and aug_input.image.max() <= 255
        labels = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32) % 7
        np.testing.assert_array_equal(aug_input.sem_seg, labels)
        ids = np.arange(24 * 32, dtype=np.int64).reshape(24, 32) * 1000
        np.testing.assert_array_equal(transforms.apply_segmentation(ids), ids)
        boxes = np.array([[1.0, 2.0, 10.0, 12.0]])
        np.testing.assert_array_equal(transforms.apply_box(boxes), boxes)


def test_each_component_changes_the_image_as_described():
    image = colourful_image()
    as_float = image.astype(np.float32)
    np.testing.assert_array_equal(only(brightness_delta=10.0).apply_image(image), np.clip(as_float + 10, 0, 255))
    np.testing.assert_array_equal(only(contrast_factor=1.2).apply_image(image), np.rint(np.clip(as_float * 1.2, 0, 255)))
    grey = np.full((4, 4, 3), 128, np.uint8)
    for component in ({"saturation_factor": 0.5}, {"hue_delta": 15.0}):
        changed = only(**component).apply_image(image)
        assert np.abs(changed.astype(int) - image).max() > 5, component
        # neither saturation nor hue moves a grey pixel
        np.testing.assert_array_equal(only(**component).apply_image(grey), grey)
    # saturation 0 leaves grey; a full hue turn is the identity (up to rounding)
    desaturated = only(saturation_factor=0.0).apply_image(image).astype(int)
    assert np.abs(desaturated - desaturated.mean(axis=2, keepdims=True)).max() <= 1
    assert np.abs(only(hue_delta=360.0).apply_image(image).astype(int) - image).max() <= 1
    np.testing.assert_array_equal(only().apply_image(image), image)


def test_contrast_before_or_after_the_hsv_part():
    image = colourful_image()
    params = dict(brightness_delta=-20.0, contrast_factor=1.4, saturation_factor=1.4, hue_delta=10.0)
    before = only(**params, contrast_first=True).apply_image(image)
    after = only(**params, contrast_first=False).apply_image(image)
    assert not np.array_equal(before, after)


def test_draws_follow_ssd_ranges_and_probability():
    np.random.seed(0)
    aug = PhotometricDistortion("RGB")
    draws = [aug.get_transform(None).params for _ in range(2000)]
    for field, bound in [("brightness_delta", (-32, 32)), ("contrast_factor", (0.5, 1.5)),
                         ("saturation_factor", (0.5, 1.5)), ("hue_delta", (-18, 18))]:
        values = [getattr(d, field) for d in draws if getattr(d, field) is not None]
        assert 0.45 < len(values) / len(draws) < 0.55, field
        assert bound[0] <= min(values) and max(values) <= bound[1], field
    assert 0.45 < np.mean([d.contrast_first for d in draws]) < 0.55


def test_unknown_image_format_names_the_key():
    with pytest.raises(ValueError, match="INPUT.FORMAT 'BGR' or 'RGB', got 'L'"):
        PhotometricDistortion("L")


def test_hsv_conversion_is_opencvs_without_opencv():
    """The numpy HSV round trip agrees with cv2.cvtColor's float one to float32 rounding, and every
    distortion gives the same uint8 image as the same distortion computed with cv2.cvtColor."""
    import cv2

    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 256, size=(64, 64, 3)).astype(np.float32) / 255.0
    rgb[:4] = 0.0  # black: no hue, no saturation
    rgb[4:8] = rgb[4:8, :, :1]  # greys
    rgb[8:12, :, 1] = rgb[8:12, :, 0]  # ties between the largest channels
    hsv = color_augmentation.rgb_to_hsv(rgb)
    np.testing.assert_allclose(hsv, cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), rtol=1e-6, atol=1e-6)
    hsv[..., 0] = rng.uniform(0.0, 360.0, size=hsv.shape[:2])  # any hue the hue shift gives (mod 360)
    np.testing.assert_allclose(color_augmentation.hsv_to_rgb(hsv), cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), atol=1e-6)

    image = colourful_image(seed=1)
    params = dict(brightness_delta=-12.0, contrast_factor=1.3, contrast_first=False)
    draws = [{}, {"saturation_factor": 1.4}, {"hue_delta": -17.5}, {"saturation_factor": 0.6, "hue_delta": 9.0}]
    numpy_outputs = {fmt: [transform(fmt, **params, **d).apply_image(image) for d in draws] for fmt in ("BGR", "RGB")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(color_augmentation, "rgb_to_hsv", lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2HSV))
        patch.setattr(color_augmentation, "hsv_to_rgb", lambda x: cv2.cvtColor(x, cv2.COLOR_HSV2RGB))
        for fmt, outputs in numpy_outputs.items():
            for draw, output in zip(draws, outputs):
                np.testing.assert_array_equal(output, transform(fmt, **params, **draw).apply_image(image), err_msg=f"{fmt} {draw}")
