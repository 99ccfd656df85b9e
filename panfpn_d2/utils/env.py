"""Facts about the detectron2 build in use."""
import functools
import importlib
import importlib.machinery

# What detectron2.evaluation.fast_eval_api calls in detectron2._C.
COMPILED_COCO_EVAL_OPS = ("COCOevalAccumulate", "COCOevalEvaluateImages", "InstanceAnnotation")


@functools.lru_cache(maxsize=None)
def has_compiled_coco_eval() -> bool:
    """True when detectron2's ``_C`` is a compiled extension with its COCOeval ops.

    Never raises: any other ``_C`` (none, this project's pure-Python fallback, a stand-in whose
    attributes raise) answers False, and evaluation then uses hotcoco, with the same numbers.
    """
    try:
        from detectron2 import _C

        is_extension = str(getattr(_C, "__file__", "")).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
        return is_extension and all(callable(getattr(_C, op)) for op in COMPILED_COCO_EVAL_OPS)
    except Exception:  # whatever a broken or stand-in _C raises on import or attribute access
        return False


def import_extra(module: str, extra: str, purpose: str):
    """``importlib.import_module(module)``, or an ImportError naming the ``panfpn_d2[extra]`` that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs {module.split('.')[0]!r}, which is not installed: pip install 'panfpn_d2[{extra}]'"
        ) from e
