"""PanFPN trained by 2 processes (gloo, CPU) under DistributedDataParallel as detectron2's trainer
wraps it: every loss schedule and single-branch model trains with no unused-parameter error and
identical replicas after every step; a NaN loss on one process stops every process before the step."""
import pytest
import torch

from tests.support.distributed import run_on_processes

VARIANTS = {
    "combine": "COCO-PanopticSegmentation/panfpn_R_50_1x.yaml",
    "alternate": "COCO-PanopticSegmentation/ablations/alternate_loss.yaml",
    "lambda_i=0": "COCO-PanopticSegmentation/semantic_fpn_R_50_1x.yaml",
    "lambda_s=0": "COCO-PanopticSegmentation/maskrcnn_R_50_1x.yaml",
}
ITERATIONS = 2  # "alternate" trains each branch once
WORLD_SIZE = 2
NAN_RANK, NAN_ITER = 1, 1


def _flat_parameters(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _replica_check_hook():
    """After every step: every trainable parameter has a gradient, and all replicas hold the same weights."""
    from detectron2.engine import HookBase
    from detectron2.utils import comm

    class ReplicasAgree(HookBase):
        def __init__(self):
            self.checked, self.weights = [], None

        def after_step(self):
            model = self.trainer.model
            no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
            assert not no_grad, f"iteration {self.trainer.iter}: no gradient for {no_grad[:5]}"
            self.weights = _flat_parameters(model)
            replicas = comm.all_gather(self.weights)
            assert all(torch.equal(w, replicas[0]) for w in replicas), f"replicas differ after iteration {self.trainer.iter}"
            self.checked.append(self.trainer.iter)

    return ReplicasAgree()


def _ddp_trainer(config, rank, poison_at=None):
    """detectron2's set-up (DefaultTrainer): optimizer on the bare model, then create_ddp_model (the
    plugin's CPU-safe one, as the trainers wrap it), then the step."""
    from detectron2.modeling import build_model
    from detectron2.solver import build_optimizer
    from detectron2.utils.events import get_event_storage

    from tests.support.configs import tiny_cfg
    from tests.support.training import make_training_inputs
    from panfpn_d2.compat import create_ddp_model
    from panfpn_d2.engine import FiniteLossTrainer

    cfg = tiny_cfg(config)
    model = build_model(cfg)
    optimizer = build_optimizer(cfg, model)
    if poison_at is not None:
        forward = model.forward

        def poisoned_forward(batched_inputs):
            losses = forward(batched_inputs)
            if get_event_storage().iter == poison_at:
                losses["loss_sem_seg"] = losses["loss_sem_seg"] * float("nan")
            return losses

        model.forward = poisoned_forward
    model = create_ddp_model(model, broadcast_buffers=False)
    data = (make_training_inputs(num_images=1, seed=1000 * rank + i) for i in range(ITERATIONS))  # each rank its own
    trainer = FiniteLossTrainer(model, data, optimizer)
    hook = _replica_check_hook()
    trainer.register_hooks([hook])
    return trainer, hook


def _worker(rank, world_size):
    torch.set_num_threads(1)
    results = {}
    for name, config in VARIANTS.items():
        trainer, hook = _ddp_trainer(config, rank)
        trainer.train(0, ITERATIONS)
        results[name] = hook.checked

    trainer, hook = _ddp_trainer(VARIANTS["combine"], rank, poison_at=NAN_ITER if rank == NAN_RANK else None)
    try:
        trainer.train(0, ITERATIONS)
    except FloatingPointError as error:
        results["nan"] = (str(error), hook.checked, torch.equal(_flat_parameters(trainer.model), hook.weights))
    return results


@pytest.fixture(scope="module")
def distributed_results():
    return run_on_processes(_worker, WORLD_SIZE)


@pytest.mark.parametrize("variant", VARIANTS)
def test_replicas_stay_equal_with_no_unused_parameters(distributed_results, variant):
    for rank in range(WORLD_SIZE):
        assert distributed_results[rank][variant] == list(range(ITERATIONS))


def test_nan_loss_on_one_process_stops_every_process_before_the_step(distributed_results):
    for rank in range(WORLD_SIZE):
        assert "nan" in distributed_results[rank], f"rank {rank} trained on"
        message, checked, weights_unchanged = distributed_results[rank]["nan"]
        assert f"Non-finite loss at iteration {NAN_ITER}: loss_sem_seg = nan (rank {NAN_RANK})" in message
        assert checked == list(range(NAN_ITER)) and weights_unchanged
