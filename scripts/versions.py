"""Prints the versions a test run uses, one line (CI's log says what each route ran on)."""
import importlib.metadata
import platform

import detectron2
import numpy
import cv2
import PIL
import torch

from panfpn_d2.utils.env import has_compiled_coco_eval


def main():
    packages = ("hotcoco", "pycocotools", "cityscapesscripts", "panopticapi-lite", "onnx", "onnxruntime")
    installed = []
    for name in packages:
        try:
            installed.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            installed.append(f"{name} (not installed)")
    compiled = "compiled ops" if has_compiled_coco_eval() else "no compiled ops"
    print(
        f"versions: Python {platform.python_version()}, torch {torch.__version__}, detectron2 {detectron2.__version__} "
        f"({compiled}, {detectron2.__file__}), numpy {numpy.__version__}, Pillow {PIL.__version__}, opencv {cv2.__version__}, "
        + ", ".join(installed)
    )


if __name__ == "__main__":
    main()
