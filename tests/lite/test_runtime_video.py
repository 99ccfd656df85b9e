"""Video input of ``panfpn-predict``: OpenCV's frames in order whatever order the decoding threads
ask for them in, frames a re-run skips left undecoded, a clear error without OpenCV."""
import sys
import threading

import numpy as np
import pytest

from panfpn_lite.runtime.inputs import VideoFrames, frame_name, input_images

from tests.support.video import write_video


@pytest.fixture
def video(tmp_path):
    """(path, the frames as OpenCV decodes them, BGR): 6 frames of 32x48 with distinct content."""
    import cv2

    path = write_video(tmp_path / "clip.avi", [np.full((32, 48, 3), 40 * k, np.uint8) for k in range(6)])
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return path, frames


def test_frames_come_in_their_own_order_whatever_order_they_are_asked_in(video):
    path, frames = video
    reader = VideoFrames(str(path))
    assert reader.count == 6
    for index in (3, 0, 5, 1, 2, 4):
        np.testing.assert_array_equal(reader.frame(index, "BGR"), frames[index])
    rgb = VideoFrames(str(path)).frame(2, "RGB")
    np.testing.assert_array_equal(rgb, frames[2][:, :, ::-1])


def test_frames_asked_for_by_several_threads_are_each_their_own(video):
    path, frames = video
    reader = VideoFrames(str(path))
    got = {}
    threads = [threading.Thread(target=lambda k=k: got.update({k: reader.frame(k, "BGR")})) for k in reversed(range(6))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, frame in got.items():
        np.testing.assert_array_equal(frame, frames[index])


def test_frames_a_rerun_skips_are_not_decoded_and_the_rest_named_in_order(video):
    path, frames = video
    skip = {frame_name(str(path), k)[0] for k in (0, 1, 4)}
    names, todo, failures = input_images([str(path)], skip)
    assert failures == []
    assert names == [f"clip.avi#{k:06d}" for k in range(6)]
    assert [(image.name, image.image_id) for image in todo] == [(f"clip.avi#{k:06d}", f"clip_{k:06d}") for k in (2, 3, 5)]
    for image, index in zip(todo, (2, 3, 5)):
        np.testing.assert_array_equal(image.read("BGR"), frames[index])


def test_unreadable_video_is_a_failure_naming_it_and_the_other_inputs_go_on(video, tmp_path):
    path, _ = video
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    names, todo, failures = input_images([str(broken), str(path)], set())
    assert len(failures) == 1 and str(broken) in failures[0] and "not a readable video" in failures[0]
    assert len(names) == len(todo) == 6


def test_a_frame_and_an_image_of_the_same_id_are_refused(video, tmp_path):
    path, _ = video
    image = tmp_path / "clip_000002.png"
    image.write_bytes(b"")
    with pytest.raises(ValueError, match="would both be written as clip_000002.png"):
        input_images([str(path), str(image)], set())


def test_video_without_opencv_names_the_extra(video, monkeypatch):
    path, _ = video
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match=r"video input needs OpenCV; pip install 'panfpn_d2\[video\]'"):
        VideoFrames(str(path))
