"""The files named on a command line (``--input`` of the demo and of ``panfpn-predict``), and the
images ``panfpn-predict`` predicts: image files and the frames of video files."""
import functools
import glob
import os
import threading
from dataclasses import dataclass
from typing import AbstractSet, Callable, Dict, List, Sequence, Tuple

import numpy as np

from .preprocess import check_input_format, read_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
VIDEO_EXTRA_HINT = "pip install 'panfpn_d2[video]' (opencv-python-headless)"


def image_paths(inputs: Sequence[str]) -> List[str]:
    """The files named by ``inputs``: files, folders (their images) or glob patterns."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, name)
                for name in os.listdir(item)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif os.path.isfile(item):
            found = [item]
        else:
            found = sorted(glob.glob(os.path.expanduser(item)))
        if not found:
            raise FileNotFoundError(f"--input {item!r}: no image file, folder of images or glob match")
        paths.extend(found)
    names: Dict[str, str] = {}
    for path in paths:
        name = os.path.basename(path)
        if name in names and names[name] != path:
            raise ValueError(
                f"--input: {names[name]!r} and {path!r} would both be written to the output as {name!r}"
            )
        names[name] = path
    return list(names.values())


@dataclass(frozen=True)
class InputImage:
    """One image to predict: ``name`` is its ``file_name`` in the predictions JSON (what a re-run
    skips by), ``image_id`` its id and PNG name, ``read`` gives it in an input format."""

    name: str
    image_id: str
    read: Callable[[str], np.ndarray]


class VideoFrames:
    """The frames of a video file (OpenCV), decoded in order whatever order the decoding threads ask
    for them in: a frame asked for early waits in memory; frames not wanted are skipped undecoded."""

    def __init__(self, path: str):
        try:
            import cv2
        except ImportError as e:
            raise ImportError(f"{path}: video input needs OpenCV; {VIDEO_EXTRA_HINT}") from e
        self._cv2, self.path = cv2, path
        capture = cv2.VideoCapture(path)
        try:
            if not capture.isOpened():
                raise ValueError(f"{path}: not a readable video")
            # the container's frame count can be an estimate: count the frames themselves
            self.count = 0
            while capture.grab():
                self.count += 1
        finally:
            capture.release()
        if not self.count:
            raise ValueError(f"{path}: a video without readable frames")
        self.wanted = set(range(self.count))
        self._capture = None
        self._next = 0
        self._decoded: Dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def frame(self, index: int, input_format: str) -> np.ndarray:
        """Frame ``index`` (from 0) as an (H, W, 3) uint8 image in ``input_format``."""
        check_input_format(input_format)
        with self._lock:
            if self._capture is None:
                self._capture = self._cv2.VideoCapture(self.path)
            while index not in self._decoded:
                if self._next > index:
                    raise ValueError(f"{self.path}: frame {index} cannot be decoded")
                if self._next in self.wanted:
                    ok, image = self._capture.read()
                    if ok:
                        self._decoded[self._next] = image
                else:
                    ok = self._capture.grab()
                self._next += 1
                if not ok:
                    self._next = self.count  # the stream ended early: later frames fail too
            image = self._decoded.pop(index)
            self.wanted.discard(index)
            if not self.wanted:
                self._capture.release()
        return image if input_format == "BGR" else np.ascontiguousarray(image[:, :, ::-1])


def frame_name(video_path: str, index: int) -> Tuple[str, str]:
    """(JSON file name, image id) of frame ``index`` of a video: ``clip.mp4#000012``, ``clip_000012``."""
    base = os.path.basename(video_path)
    return f"{base}#{index:06d}", f"{os.path.splitext(base)[0]}_{index:06d}"


def input_images(paths: Sequence[str], skip: AbstractSet[str]) -> Tuple[List[str], List[InputImage], List[str]]:
    """(every image's name in input order, the images not in ``skip`` to predict, failure messages)
    of ``paths`` (:func:`image_paths`' files): an image file is one image, a video file (by its
    extension) one image a frame. A video that cannot be opened is a failure; the others go on."""
    names: List[str] = []
    todo: List[InputImage] = []
    failures: List[str] = []
    owners: Dict[str, str] = {}
    for path in paths:
        if not path.lower().endswith(VIDEO_EXTENSIONS):
            name = os.path.basename(path)
            entries = [(name, os.path.splitext(name)[0], functools.partial(read_image, path))]
        else:
            try:
                video = VideoFrames(path)
            except ValueError as e:
                failures.append(str(e))
                continue
            entries = []
            for index in range(video.count):
                name, image_id = frame_name(path, index)
                if name in skip:
                    video.wanted.discard(index)
                entries.append((name, image_id, functools.partial(video.frame, index)))
        for name, image_id, read in entries:
            if image_id in owners:
                raise ValueError(f"--input: {owners[image_id]!r} and {name!r} would both be written as {image_id}.png")
            owners[image_id] = name
            names.append(name)
            if name not in skip:
                todo.append(InputImage(name, image_id, read))
    return names, todo, failures
