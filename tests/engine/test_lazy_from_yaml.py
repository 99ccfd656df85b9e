"""lazy_config_from_yaml: every shipped .py config is exactly its YAML's lazy form, the form follows
the YAML's overrides, covers single-branch models and colour augmentation, and refuses what it
cannot express."""
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.modeling import build_model
from omegaconf import OmegaConf

from panfpn_d2.config import load_config
from panfpn_d2.data import PanFPNDatasetMapper
from panfpn_d2.data.color_augmentation import PhotometricDistortion
from panfpn_d2.engine.lazy import lazy_config_from_yaml

from tests.support.paths import CONFIGS
from tests.test_lazy_configs import TWINS, describe

PARTS = ("model", "dataloader", "optimizer", "lr_multiplier", "train")


# each .py config -> the YAML it is made from
FORMS = {
    **{f"{name}.py": f"{name}.yaml" for name in TWINS},
    "common/panfpn.py": "Base-PanFPN.yaml",
    "common/panfpn_cityscapes.py": "Base-PanFPN-Cityscapes.yaml",
}


def test_every_py_config_is_listed():
    assert {str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.py")} == set(FORMS)


@pytest.mark.parametrize("py, yaml", FORMS.items())
def test_every_py_config_is_its_yamls_lazy_form(py, yaml):
    loaded = LazyConfig.load(str(CONFIGS / py))
    made = lazy_config_from_yaml(str(CONFIGS / yaml))
    assert set(loaded) == set(PARTS)
    for part in PARTS:
        expected = OmegaConf.to_container(OmegaConf.create(getattr(made, part)))
        assert OmegaConf.to_container(loaded[part]) == expected, part


def test_the_lazy_form_follows_the_yaml_and_its_overrides():
    toy = str(CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.yaml")
    made = lazy_config_from_yaml(toy, ["SOLVER.BASE_LR", "0.5", "MODEL.FPN.OUT_CHANNELS", "32",
                                       "MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS", "(1.0, 2.0, 3.0, 4.0)"])
    assert made.optimizer.lr == 0.5 and made.model.backbone.out_channels == 32
    assert list(made.model.roi_heads.box_predictor.box2box_transform.weights) == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("name", [
    "COCO-PanopticSegmentation/maskrcnn_R_50_1x", "COCO-PanopticSegmentation/semantic_fpn_R_50_1x",
])
def test_single_branch_models_are_the_yamls(name):
    cfg = load_config(str(CONFIGS / f"{name}.yaml"), ["MODEL.DEVICE", "cpu"])
    lazy = OmegaConf.create(lazy_config_from_yaml(str(CONFIGS / f"{name}.yaml"), ["MODEL.DEVICE", "cpu"])._asdict())
    from_yaml, from_lazy = build_model(cfg), instantiate(lazy.model)
    assert repr(from_lazy) == repr(from_yaml)
    for branch in ("proposal_generator", "roi_heads", "sem_seg_head"):
        assert (getattr(from_lazy, branch) is None) == (getattr(from_yaml, branch) is None), branch
    if from_yaml.semantic_label_to_category is not None:
        assert torch.equal(from_lazy.semantic_label_to_category, from_yaml.semantic_label_to_category)


@pytest.mark.parametrize("name, key", [
    ("COCO-PanopticSegmentation/ablations/grouped_fpn.yaml", "MODEL.PANFPN.GROUPED_FPN"),
    ("COCO-PanopticSegmentation/panfpn_x2_R_50_1x.yaml", "MODEL.META_ARCHITECTURE"),
])
def test_what_a_lazy_config_cannot_express_is_an_error_naming_the_key(name, key):
    with pytest.raises(ValueError, match=key):
        lazy_config_from_yaml(str(CONFIGS / name))


def test_the_augmentations_are_the_yaml_mappers_colour_augmentation_included():
    name = str(CONFIGS / "Cityscapes-SemanticSegmentation" / "semfpn_R_101_bootstrap.yaml")
    lazy = OmegaConf.create(lazy_config_from_yaml(name)._asdict())
    for is_train, loader in ((True, lazy.dataloader.train), (False, lazy.dataloader.test)):
        yaml_mapper = PanFPNDatasetMapper(load_config(name), is_train=is_train)
        assert describe(instantiate(loader.mapper).augmentations) == describe(yaml_mapper.augmentations)
    assert [a._target_ for a in lazy.dataloader.train.mapper.augmentations][-1] is PhotometricDistortion


@pytest.mark.parametrize("opts", [
    [], ["TEST.WRITE_PANOPTIC_PNG", "True", "TEST.EVALUATORS", "detectron2", "TEST.PQ_BREAKDOWN", "True"],
])
def test_the_lazy_evaluator_gets_the_yaml_evaluators_arguments(opts, tmp_path, monkeypatch):
    """Output folder (when files are written), detectron2 evaluators' cache folder, evaluator set and PQ
    breakdown: the lazy form's are build_evaluator's, under train.output_dir wherever that is set."""
    from panfpn_d2.evaluation import build

    calls = []

    def record(dataset_name, **arguments):
        calls.append(dict(arguments, dataset_name=dataset_name))

    monkeypatch.setattr(build, "build_panoptic_fpn_evaluators", record)
    toy = str(CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.yaml")
    opts = [*opts, "OUTPUT_DIR", str(tmp_path / "out")]
    cfg = load_config(toy, opts)
    dataset = cfg.DATASETS.TEST[0]
    build.build_evaluator(cfg, dataset)
    lazy = OmegaConf.create(lazy_config_from_yaml(toy, opts)._asdict())
    lazy.dataloader.evaluator._target_ = record
    instantiate(lazy.dataloader.evaluator)
    assert calls[1] == calls[0]
    writes_png = cfg.TEST.WRITE_PANOPTIC_PNG
    assert calls[1]["output_folder"] == (str(tmp_path / "out" / "inference" / dataset) if writes_png else None)
    assert calls[1]["cache_dir"] == str(tmp_path / "out" / "detectron2_evaluation" / dataset)

    lazy.train.output_dir = str(tmp_path / "elsewhere")
    instantiate(lazy.dataloader.evaluator)
    assert calls[2]["cache_dir"] == str(tmp_path / "elsewhere" / "detectron2_evaluation" / dataset)
    if writes_png:
        assert calls[2]["output_folder"] == str(tmp_path / "elsewhere" / "inference" / dataset)
