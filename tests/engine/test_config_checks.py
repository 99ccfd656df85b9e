"""NUM_CLASSES that disagree with the registered toy dataset's metadata fail when the Trainer builds the
model, naming the key (the other bad-config errors are covered in tests/modeling/test_meta_arch.py)."""
import pytest

from panfpn_d2.engine import Trainer

from tests.support.configs import toy_cfg


@pytest.mark.parametrize(
    "opts, message",
    [
        (["MODEL.SEM_SEG_HEAD.NUM_CLASSES", 54], "MODEL.SEM_SEG_HEAD.NUM_CLASSES = 54 disagrees with dataset "
                                                  "'{train}', which has 4 stuff classes + 'other'"),
        (["MODEL.ROI_HEADS.NUM_CLASSES", 80], "MODEL.ROI_HEADS.NUM_CLASSES = 80 disagrees with dataset "
                                              "'{train}', which has 3 thing classes"),
        (["MODEL.PANFPN.SEM_SEG_THING_MODE", "all"], "MODEL.SEM_SEG_HEAD.NUM_CLASSES = 4 disagrees with dataset "
                                                     "'{train}', which has 6 categories"),
    ],
)
def test_num_classes_disagreeing_with_the_toy_dataset_fail_at_build(tmp_path, opts, message):
    cfg = toy_cfg(tmp_path / "toy", tmp_path / "out", *opts)  # registered, never generated: metadata only
    with pytest.raises(ValueError) as error:
        Trainer.build_model(cfg)
    assert message.format(train=cfg.DATASETS.TRAIN[0]) in str(error.value)
    assert not (tmp_path / "toy").exists()


def test_toy_config_num_classes_agree_with_the_toy_dataset(tmp_path):
    Trainer.build_model(toy_cfg(tmp_path / "toy", tmp_path / "out"))
    Trainer.build_model(toy_cfg(tmp_path / "toy", tmp_path / "out", "MODEL.PANFPN.SEM_SEG_THING_MODE", "all",
                                "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 6))
