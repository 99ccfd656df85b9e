"""Reading and resizing images as detectron2's DefaultPredictor does (its ResizeShortestEdge)."""
from typing import Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageReadError(ValueError):
    """An input image cannot be read; the message names the file."""


def check_input_format(input_format: str) -> None:
    """A ValueError unless ``input_format`` is a channel order the runtime reads."""
    if input_format not in ("BGR", "RGB"):
        raise ValueError(f"input format {input_format!r}: the runtime reads BGR or RGB models")


def read_image(path: str, input_format: str) -> np.ndarray:
    """The (H, W, 3) uint8 image at ``path`` in ``input_format`` ("BGR" or "RGB") channel order,
    EXIF orientation applied (as detectron2's ``read_image``)."""
    check_input_format(input_format)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            rgb = np.asarray(image)
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise ImageReadError(f"{path}: not a readable image ({e})") from e
    return rgb[:, :, ::-1] if input_format == "BGR" else rgb


def resized_shape(height: int, width: int, short_edge: int, max_size: int) -> Tuple[int, int]:
    """(height, width) scaled so that the short edge is ``short_edge`` and the long one at most
    ``max_size``, rounded as detectron2's ``ResizeShortestEdge.get_output_shape``."""
    scale = short_edge / min(height, width)
    new_h, new_w = (short_edge, scale * width) if height < width else (scale * height, short_edge)
    if max(new_h, new_w) > max_size:
        scale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def resize_for_model(image: np.ndarray, short_edge: int, max_size: int) -> np.ndarray:
    """The (3, H', W') float32 model input of an (H, W, 3) uint8 image; short_edge 0 keeps the size.

    Resized by Pillow's bilinear filter on uint8, the very call detectron2's ResizeTransform makes,
    so that the model sees the same pixels as in PyTorch.
    """
    if short_edge > 0:
        new_h, new_w = resized_shape(image.shape[0], image.shape[1], short_edge, max_size)
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((new_w, new_h), Image.BILINEAR))
    return image.astype(np.float32).transpose(2, 0, 1)
