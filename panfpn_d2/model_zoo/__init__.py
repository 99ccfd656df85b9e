"""The configs that ship with panfpn_d2, found by name as detectron2's ``model_zoo`` finds its own:
``get_config_file("COCO-PanopticSegmentation/panfpn_R_50_1x.yaml")``.

The repository's top-level ``configs/`` is their one source: building a wheel copies it to
``panfpn_d2/model_zoo/configs`` (setup.py); in a clone or an editable install they are read
where they are.
"""
from pathlib import Path

__all__ = ["configs_root", "get_config", "get_config_file"]

_PACKAGED = Path(__file__).resolve().parent / "configs"
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "configs"


def configs_root() -> Path:
    """The folder of the shipped configs: the wheel's copy, else the source tree's configs/."""
    for root in (_PACKAGED, _SOURCE_TREE):
        if root.is_dir():
            return root
    raise FileNotFoundError(f"panfpn_d2's configs are not installed: neither {_PACKAGED} nor {_SOURCE_TREE} exists")


def get_config_file(config_path: str) -> str:
    """The path of a shipped config, named relative to configs/ (e.g. "Toy-PanopticSegmentation/panfpn_toy.yaml")."""
    path = configs_root() / config_path
    if not path.is_file():
        raise FileNotFoundError(
            f"{config_path!r} is not a config shipped with panfpn_d2 (looked for {path}); names are relative "
            "to configs/, e.g. 'COCO-PanopticSegmentation/panfpn_R_50_1x.yaml'"
        )
    return str(path)


def get_config(config_path: str):
    """A shipped config: a YAML as a frozen CfgNode (panfpn_d2.config.load_config), a ``.py`` as a
    LazyConfig (detectron2's ``LazyConfig.load``)."""
    config_file = get_config_file(config_path)
    if config_file.endswith(".py"):
        from detectron2.config import LazyConfig

        return LazyConfig.load(config_file)
    from ..config import load_config

    return load_config(config_file)
