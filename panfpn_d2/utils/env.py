"""Facts about the detectron2 build in use."""
import functools


@functools.lru_cache(maxsize=None)
def has_compiled_ops() -> bool:
    """True when detectron2's C++/CUDA ops are compiled (not the pure-Python ``_C`` fallback)."""
    try:
        from detectron2 import _C
    except ImportError:
        return False
    return not getattr(_C, "IS_FALLBACK", False)
