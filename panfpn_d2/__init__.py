"""
Panoptic Feature Pyramid Networks (Kirillov, Girshick, He, Dollar, CVPR 2019) as a
detectron2 plugin. ``import panfpn_d2`` registers the META_ARCH ``PanFPN``, the
SEM_SEG_HEAD ``PanFPNSemSegHead`` and the plugin's datasets; nothing else.
"""
import sys

__version__ = "0.1.0"
__all__ = [
    "add_panfpn_config",
    "register_panoptic_dataset",
    "PanFPN",
    "PanFPNSemSegHead",
    "combine_semantic_and_instance_outputs",
]

# Commands that need neither torch nor detectron2: `python -m` imports this package before it
# runs them, and registering the model (torch + detectron2, ~4 s) would dominate their run time.
TORCH_FREE_COMMANDS = ("panfpn_d2.evaluation.pq",)


def _started_as_torch_free_command() -> bool:
    """Whether this import is `python -m <one of TORCH_FREE_COMMANDS>` looking up its module
    (Python sets sys.argv[0] to "-m" for exactly that while)."""
    argv = getattr(sys, "orig_argv", [])
    adjacent = set(zip(argv, argv[1:]))
    return sys.argv[:1] == ["-m"] and any(("-m", command) in adjacent for command in TORCH_FREE_COMMANDS)


if not _started_as_torch_free_command():
    from . import data  # noqa: F401  (registers the datasets)
    from . import modeling  # noqa: F401  (registers the model components)
    from .config import add_panfpn_config
    from .data import register_panoptic_dataset
    from .modeling import PanFPN, PanFPNSemSegHead, combine_semantic_and_instance_outputs
