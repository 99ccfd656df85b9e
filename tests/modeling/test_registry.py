"""`import panfpn_d2` registers the plugin's components and datasets, and nothing else."""
import os
import subprocess
import sys

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY, SEM_SEG_HEADS_REGISTRY
from detectron2.modeling.meta_arch.panoptic_fpn import PanopticFPN
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

import panfpn_d2


def test_plugin_components_are_registered_beside_detectron2s():
    assert META_ARCH_REGISTRY.get("PanFPN") is panfpn_d2.PanFPN
    assert SEM_SEG_HEADS_REGISTRY.get("PanFPNSemSegHead") is panfpn_d2.PanFPNSemSegHead
    assert META_ARCH_REGISTRY.get("PanopticFPN") is PanopticFPN
    assert SEM_SEG_HEADS_REGISTRY.get("SemSegFPNHead") is SemSegFPNHead


def test_datasets_are_registered_with_their_metadata():
    for name in ("panfpn_coco_2017_train", "panfpn_coco_2017_val", "panfpn_cityscapes_fine_panoptic_train",
                 "panfpn_cityscapes_fine_panoptic_val", "panfpn_toy_train", "panfpn_toy_val"):
        assert name in DatasetCatalog.list()
    assert len(MetadataCatalog.get("panfpn_coco_2017_val").thing_classes) == 80
    assert len(MetadataCatalog.get("panfpn_cityscapes_fine_panoptic_val").category_dataset_ids) == 19


def test_public_api():
    assert set(panfpn_d2.__all__) >= {
        "add_panfpn_config", "register_panoptic_dataset", "PanFPN", "PanFPNSemSegHead",
        "combine_semantic_and_instance_outputs",
    }


def test_import_touches_no_file_and_keeps_torch_settings(tmp_path):
    toy_root = tmp_path / "toy"
    code = (
        "import torch; before = torch.backends.mkldnn.enabled; import panfpn_d2; "
        "assert torch.backends.mkldnn.enabled == before"
    )
    env = dict(os.environ, PANFPN_TOY_ROOT=str(toy_root), DETECTRON2_DATASETS=str(tmp_path / "datasets"))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)
    assert not toy_root.exists() and not (tmp_path / "datasets").exists()
    assert list(tmp_path.iterdir()) == []


def test_config_keys_live_under_model_panfpn():
    from detectron2.config import get_cfg

    base = get_cfg()
    cfg = panfpn_d2.add_panfpn_config(get_cfg())
    added = set(cfg.MODEL.keys()) - set(base.MODEL.keys())
    assert added == {"PANFPN"}
    assert set(cfg.keys()) == set(base.keys())
