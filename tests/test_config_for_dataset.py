"""configure_for_dataset: the class counts of a registered dataset, in each thing mode; train_net's
--configure-for-dataset applies it to DATASETS.TRAIN[0]; a disagreeing count names the value to set."""
import itertools

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from panfpn_d2.config import configure_for_dataset, load_config, validate_config
from panfpn_d2.data import register_panoptic_dataset
from panfpn_d2.engine import setup_cfg
from panfpn_d2.tools.train_net import argument_parser, main
from tests.support.panoptic_datasets import write_panoptic_dataset
from tests.support.paths import CONFIGS, TOY_CONFIG

_names = itertools.count()


@pytest.fixture
def two_things_two_stuff(tmp_path):
    """A registered dataset of TOY_CATEGORIES (2 things, 2 stuff), categories read lazily from its JSON."""
    name = f"panfpn_test_configure_{next(_names)}"
    files = write_panoptic_dataset(tmp_path, count=1)
    register_panoptic_dataset(name, files["json"], files["images"], files["png_dir"])
    yield name
    DatasetCatalog.pop(name, None)
    MetadataCatalog.pop(name, None)


@pytest.mark.parametrize("thing_mode, sem_seg_classes", [("other", 3), ("all", 4)])
def test_class_counts_follow_the_dataset_and_the_thing_mode(two_things_two_stuff, thing_mode, sem_seg_classes):
    cfg = load_config(str(TOY_CONFIG), ["DATASETS.TRAIN", (two_things_two_stuff,), "DATASETS.TEST", (),
                                        "MODEL.PANFPN.SEM_SEG_THING_MODE", thing_mode])
    with pytest.raises(ValueError, match="MODEL.SEM_SEG_HEAD.NUM_CLASSES|MODEL.ROI_HEADS.NUM_CLASSES"):
        validate_config(cfg)  # the toy config's 3 things, 3 stuff
    cfg = cfg.clone()
    cfg.defrost()
    configure_for_dataset(cfg, two_things_two_stuff)
    assert (cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES) == (2, sem_seg_classes)
    validate_config(cfg)


def test_an_unregistered_dataset_is_named():
    cfg = load_config(str(TOY_CONFIG)).clone()
    cfg.defrost()
    with pytest.raises(KeyError, match="'no_such_dataset' is not registered"):
        configure_for_dataset(cfg, "no_such_dataset")


def test_a_disagreeing_class_count_names_the_key_and_the_value_to_set(two_things_two_stuff):
    cfg = load_config(str(TOY_CONFIG), ["DATASETS.TRAIN", (two_things_two_stuff,), "DATASETS.TEST", (),
                                        "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 3])
    with pytest.raises(ValueError, match=r"MODEL.ROI_HEADS.NUM_CLASSES = 3 .* set MODEL.ROI_HEADS.NUM_CLASSES 2, "
                                         r"or run train_net.py with --configure-for-dataset"):
        validate_config(cfg)


def test_train_net_flag_sets_the_class_counts_of_the_first_training_dataset(two_things_two_stuff, tmp_path):
    args = argument_parser().parse_args([
        "--config-file", str(TOY_CONFIG), "--configure-for-dataset",
        "DATASETS.TRAIN", f"('{two_things_two_stuff}',)", "DATASETS.TEST", "()", "OUTPUT_DIR", str(tmp_path),
    ])
    cfg = setup_cfg(args)
    assert (cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES) == (2, 3) and cfg.is_frozen()
    validate_config(cfg)
    saved = load_config(str(tmp_path / "config.yaml"))  # what default_setup saves: the run's config
    assert (saved.MODEL.ROI_HEADS.NUM_CLASSES, saved.MODEL.SEM_SEG_HEAD.NUM_CLASSES) == (2, 3)
    args.opts += ["DATASETS.TRAIN", "()"]
    with pytest.raises(ValueError, match=r"DATASETS.TRAIN\[0\].*DATASETS.TRAIN is empty"):
        setup_cfg(args)


def test_train_net_flag_is_refused_for_a_lazy_config():
    lazy_config = str(CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.py")
    args = argument_parser().parse_args(["--config-file", lazy_config, "--configure-for-dataset"])
    with pytest.raises(ValueError, match="--configure-for-dataset takes a YAML config; .*panfpn_toy.py is a LazyConfig"):
        main(args)
