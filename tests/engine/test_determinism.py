"""With a fixed seed and deterministic algorithms, two toy training runs on the CPU end with
bit-identical weights."""
import pytest
import torch

from detectron2.utils.env import seed_all_rng

from panfpn_d2.engine import Trainer

from tests.support.configs import make_toy_root, toy_cfg
from tests.support.training import assert_same_state

ITERATIONS = 3


@pytest.fixture
def deterministic_algorithms():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(previous)


def _train(toy_root, output_dir):
    cfg = toy_cfg(toy_root, output_dir, "SEED", 7, "SOLVER.MAX_ITER", ITERATIONS, "SOLVER.CHECKPOINT_PERIOD", 1000)
    seed_all_rng(cfg.SEED)  # as train_net.py's default_setup: python, numpy and torch generators
    trainer = Trainer(cfg)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    return initial, trainer.model.state_dict()


def test_two_seeded_toy_runs_end_with_identical_weights(tmp_path, deterministic_algorithms):
    toy_root = make_toy_root(tmp_path / "toy")
    initial, first = _train(toy_root, tmp_path / "first")
    _, second = _train(toy_root, tmp_path / "second")
    assert_same_state(second, first, "weights")
    assert not all(torch.equal(first[k], initial[k]) for k in first), "training changed no weight"
