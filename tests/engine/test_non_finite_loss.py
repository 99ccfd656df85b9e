"""A loss that turns NaN or infinite stops training at that iteration with an error naming the losses,
before the optimizer steps the weights and before any later checkpoint."""
import pytest
import torch

from detectron2.utils.events import get_event_storage

from panfpn_d2.engine import Trainer

from tests.support.configs import make_toy_root, toy_cfg
from tests.support.training import assert_same_state

BAD_ITER = 2


class PoisonedTrainer(Trainer):
    """At iteration BAD_ITER the semantic loss is NaN and the RPN's objectness loss infinite."""

    @classmethod
    def build_model(cls, cfg):
        model = super().build_model(cfg)
        forward = model.forward

        def poisoned_forward(batched_inputs):
            losses = forward(batched_inputs)
            if get_event_storage().iter == BAD_ITER:
                losses["loss_sem_seg"] = losses["loss_sem_seg"] * float("nan")
                losses["loss_rpn_cls"] = losses["loss_rpn_cls"] + float("inf")
            return losses

        model.forward = poisoned_forward
        return model


def test_non_finite_loss_stops_training_before_the_step(tmp_path):
    output_dir = tmp_path / "out"
    cfg = toy_cfg(make_toy_root(tmp_path / "toy"), output_dir, "SOLVER.MAX_ITER", 6, "SOLVER.CHECKPOINT_PERIOD", 1)
    trainer = PoisonedTrainer(cfg)
    with pytest.raises(FloatingPointError) as error:
        trainer.train()
    message = str(error.value)
    assert f"Non-finite loss at iteration {BAD_ITER}: loss_rpn_cls = inf (rank 0), loss_sem_seg = nan (rank 0)" in message
    assert "loss_mask" not in message  # finite losses are not named

    saved = sorted(p.name for p in output_dir.glob("model_*.pth"))
    assert saved == [f"model_{i:07d}.pth" for i in range(BAD_ITER)]
    assert (output_dir / "last_checkpoint").read_text() == saved[-1]
    checkpoint = torch.load(output_dir / saved[-1], map_location="cpu", weights_only=False)
    assert_same_state(trainer.model.state_dict(), checkpoint["model"], "weights")
    assert_same_state(trainer.optimizer.state_dict(), checkpoint["trainer"]["_trainer"]["optimizer"], "optimizer")
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
