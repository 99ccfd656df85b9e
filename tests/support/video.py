"""Small video files for the video input tests (OpenCV's Motion-JPEG writer, in every OpenCV build)."""
from pathlib import Path
from typing import Sequence

import numpy as np


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float = 5.0) -> Path:
    """Write BGR ``frames`` (all one size) to ``path`` (.avi) and return it."""
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path
