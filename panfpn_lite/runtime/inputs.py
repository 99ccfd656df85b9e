"""The image files named on a command line (``--input`` of the demo and of ``panfpn-predict``)."""
import glob
import os
from typing import Dict, List, Sequence

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def image_paths(inputs: Sequence[str]) -> List[str]:
    """The image files named by ``inputs``: files, folders (their images) or glob patterns."""
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
