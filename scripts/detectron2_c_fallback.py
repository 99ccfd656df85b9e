"""Pure-Python stand-in for detectron2's compiled ``detectron2._C``.

Installed as ``detectron2/_C.py`` by ``scripts/setup.sh`` when detectron2 comes
from the registry sdist, which ships no C++/CUDA sources. Panoptic FPN needs
none of the compiled ops (ROIAlign and NMS come from torchvision); modules that
import ``_C`` at import time (deformable conv, rotated boxes, the fast COCO
evaluator) then import, and any compiled op fails only when it is called.
"""

IS_FALLBACK = True

_HOW_TO_FIX = (
    "this detectron2 was installed without its compiled C++/CUDA ops (detectron2._C is a "
    "pure-Python fallback). Build detectron2 from source to use it: "
    "python -m pip install 'git+https://github.com/facebookresearch/detectron2.git'"
)


def get_compiler_version():
    return "none (detectron2._C fallback, no compiled ops)"


def get_cuda_version():
    return "none (detectron2._C fallback, no compiled ops)"


def has_cuda():
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def missing_op(*args, **kwargs):
        raise NotImplementedError(f"detectron2._C.{name}: {_HOW_TO_FIX}")

    missing_op.__name__ = name
    return missing_op
