"""Evaluation is never silently skipped: a test set whose evaluators cannot be built stops the Trainer
before any training, and an evaluator failure at test time is an error, not detectron2's warning."""
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from panfpn_d2.engine import Trainer

from tests.support.configs import toy_cfg


@pytest.fixture
def dataset_without_evaluator():
    name = "panfpn_test_no_evaluator_type"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(thing_classes=["a"])
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_trainer_fails_before_training_naming_the_test_set(tmp_path, dataset_without_evaluator, monkeypatch):
    cfg = toy_cfg(tmp_path / "toy", tmp_path / "out", "DATASETS.TEST", (dataset_without_evaluator,))
    monkeypatch.setattr(Trainer, "build_model", lambda *a: pytest.fail("the model was built before the check"))
    with pytest.raises(RuntimeError, match=f"cannot evaluate DATASETS.TEST dataset '{dataset_without_evaluator}': "
                                           "ValueError: .*evaluator_type is None"):
        Trainer(cfg)


def test_a_not_implemented_evaluator_is_an_error_at_test_time(tmp_path, monkeypatch):
    """detectron2's DefaultTrainer.test turns NotImplementedError from build_evaluator into a warning."""
    cfg = toy_cfg(tmp_path / "toy", tmp_path / "out")
    cfg.DATASETS.TEST = (cfg.DATASETS.TRAIN[0],)

    def not_implemented(*args):
        raise NotImplementedError("no evaluator for this dataset")

    monkeypatch.setattr("panfpn_d2.engine.trainer.build_evaluator", not_implemented)
    with pytest.raises(RuntimeError, match="cannot evaluate DATASETS.TEST dataset .*NotImplementedError: no evaluator"):
        Trainer.test(cfg, model=None)
