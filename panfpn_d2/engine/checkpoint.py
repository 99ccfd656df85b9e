"""Checkpoints that a kill at any moment cannot corrupt: every file is written whole, then renamed into place."""
import glob
import os
import uuid
from typing import IO, Callable

import torch
from detectron2.checkpoint import DetectionCheckpointer

LAST_CHECKPOINT = "last_checkpoint"  # the tag file fvcore's Checkpointer reads on resume


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """
    Write ``path`` through ``write(file)`` so that it holds either its old content or all the new one:
    the bytes go to a hidden temporary file in the same folder, are flushed and fsynced, and the file
    is renamed over ``path`` (atomic on POSIX); the folder is fsynced so the rename survives a crash.
    The temporary file is removed if ``write`` raises; a process killed mid-write leaves it behind
    (named ``.<name>.<random>.tmp``), never a partial ``path``, and the next write of ``path``
    removes it (one process writes a given path at a time: a checkpointer's rank 0).
    """
    directory, name = os.path.split(os.path.abspath(path))
    for leftover in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(name)}.{'[0-9a-f]' * 12}.tmp")):
        os.remove(leftover)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temporary, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class AtomicCheckpointer(DetectionCheckpointer):
    """
    detectron2's DetectionCheckpointer whose checkpoint files and ``last_checkpoint`` tag are written
    atomically (see :func:`atomic_write`): a training run killed during a save resumes from the last
    complete checkpoint. ``save_dir`` must be a local folder.
    """

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        os.makedirs(self.save_dir, exist_ok=True)
        self.logger.info(f"Saving checkpoint to {save_file}")
        atomic_write(save_file, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        atomic_write(os.path.join(self.save_dir, LAST_CHECKPOINT), lambda f: f.write(last_filename_basename.encode()))
