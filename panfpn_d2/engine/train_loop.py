"""detectron2's training step, stopped by a non-finite loss on any process before the optimizer step."""
from typing import Dict, Mapping

import torch
from detectron2.engine import AMPTrainer, SimpleTrainer
from detectron2.utils import comm

from ..compat import LossesBeforeOptimizerStep


def check_losses_finite(loss_dict: Mapping[str, torch.Tensor], iteration: int) -> None:
    """
    Raise a FloatingPointError naming every non-finite loss of any process, with its value, rank and
    the iteration. Called by every process (the check all-gathers), so all of them stop together:
    detectron2 raises on the main process only, leaving the others to step and then hang.
    """
    local: Dict[str, float] = {
        key: float(value.detach().float().sum()) for key, value in loss_dict.items() if not torch.isfinite(value).all()
    }
    reports = comm.all_gather(local) if comm.get_world_size() > 1 else [local]
    bad = [f"{key} = {value} (rank {rank})" for rank, report in enumerate(reports) for key, value in sorted(report.items())]
    if bad:
        raise FloatingPointError(
            f"Non-finite loss at iteration {iteration}: {', '.join(bad)}. Training stopped before the "
            f"optimizer step: the weights are those after iteration {iteration - 1}, and no checkpoint was saved since"
        )


class FiniteLossCheck(LossesBeforeOptimizerStep):
    """Mixin for detectron2's SimpleTrainer / AMPTrainer: every step checks its losses, after backward
    and before the optimizer step."""

    def check_losses(self, loss_dict):
        check_losses_finite(loss_dict, self.iter)


class FiniteLossTrainer(FiniteLossCheck, SimpleTrainer):
    pass


class FiniteLossAMPTrainer(FiniteLossCheck, AMPTrainer):
    pass
