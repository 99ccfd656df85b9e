"""configure_for_dataset: the class counts of a registered dataset, in each thing mode."""
import itertools

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from panfpn_d2.config import configure_for_dataset, load_config, validate_config
from panfpn_d2.data import register_panoptic_dataset
from tests.support.panoptic_datasets import write_panoptic_dataset
from tests.support.paths import TOY_CONFIG

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
