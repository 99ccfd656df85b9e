"""Where a dataset's panoptic files built on first use go, and building them once across processes.

Files already in the dataset's usual place are used as they are. Otherwise they are built into
``$PANFPN_DATA_CACHE/<dataset>/<key>/`` if that variable is set, else into the usual place itself
when it is writable (so other tools find them there too), else into
``~/.cache/panfpn_d2/<dataset>/<key>/``; ``<key>`` names the data folder (a hash of its path).
Torch-free.
"""
import hashlib
import os
from typing import Callable

CACHE_ENV = "PANFPN_DATA_CACHE"


def output_folder(usual_folder: str, json_name: str, dataset: str) -> str:
    """The folder of ``json_name`` (and its PNG folder): prepared in ``usual_folder``, or where first use builds it."""
    if os.path.isfile(os.path.join(usual_folder, json_name)):
        return usual_folder
    key = hashlib.sha1(os.path.abspath(usual_folder).encode()).hexdigest()[:16]
    if os.getenv(CACHE_ENV):
        return os.path.join(os.getenv(CACHE_ENV), dataset, key)
    # A missing data folder counts as writable: loading then names the missing files, not a cache folder.
    if not os.path.isdir(usual_folder) or os.access(usual_folder, os.W_OK):
        return usual_folder
    return os.path.join(os.path.expanduser("~/.cache/panfpn_d2"), dataset, key)


def build_once(json_file: str, build: Callable[[], None]) -> None:
    """``build()`` unless ``json_file`` exists, by one process at a time (DDP ranks loading at once).

    ``build`` must write ``json_file`` last, atomically (panfpn_lite's converters stage their output
    and rename it into place, JSON last): a process that waited on the lock then finds it and reuses it.
    """
    import fcntl  # POSIX only, as detectron2's training is

    if os.path.isfile(json_file):
        return
    folder = os.path.dirname(os.path.abspath(json_file))
    os.makedirs(folder, exist_ok=True)
    lock_name = "." + os.path.splitext(os.path.basename(json_file))[0] + ".lock"
    with open(os.path.join(folder, lock_name), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not os.path.isfile(json_file):  # else built by another process while this one waited
            build()
