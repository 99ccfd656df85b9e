"""train_net.py with a LazyConfig .py file: a tiny toy run end to end, resume, eval-only, bad overrides,
and the non-finite loss check."""
import itertools
import json

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.evaluation import DatasetEvaluators

from panfpn_d2.data.toy import generate_toy_dataset
from panfpn_d2.engine import lazy
from panfpn_d2.engine.lazy import load_lazy_config

from tests.support.distributed import run_on_processes
from tests.support.paths import CONFIGS
from tests.support.train_net import run_train_net

LAZY_TOY = CONFIGS / "Toy-PanopticSegmentation" / "panfpn_toy.py"
# The lazy twins of tests.support.configs.TOY_TRAIN_OPTS: 64 px images, a slimmer model, one image per batch.
TINY = [
    "train.device=cpu", "train.init_checkpoint=", "train.checkpointer.period=2",
    "dataloader.train.total_batch_size=1", "dataloader.train.num_workers=0", "dataloader.test.num_workers=0",
    "dataloader.train.mapper.augmentations.0.short_edge_length=[64]", "dataloader.train.mapper.augmentations.0.max_size=64",
    "dataloader.test.mapper.augmentations.0.short_edge_length=64", "dataloader.test.mapper.augmentations.0.max_size=64",
    "model.backbone.out_channels=32", "model.sem_seg_head.conv_dims=32", "model.roi_heads.box_head.fc_dims=[64,64]",
    "model.roi_heads.box_predictor.input_shape.channels=64", "model.roi_heads.mask_head.conv_dims=[16,16,16]",
    "model.roi_heads.batch_size_per_image=32", "model.proposal_generator.post_nms_topk=[64,64]",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("lazy_train")
    generate_toy_dataset(tmp_path / "toy", num_train=4, num_val=2, size=64)
    log = run_train_net(tmp_path, LAZY_TOY, *TINY, "train.max_iter=4", f"train.output_dir={tmp_path / 'out'}")
    return tmp_path, log


def test_lazy_toy_run_trains_checkpoints_and_writes_the_panoptic_metrics(trained):
    tmp_path, log = trained
    assert "Starting training from iteration 0" in log and "copypaste: PQ,SQ,RQ,PQ_th" in log
    out = tmp_path / "out"
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    assert {p.name for p in out.glob("*.pth")} == {"model_0000001.pth", "model_0000003.pth", "model_final.pth"}
    assert not list(out.glob(".*.tmp"))  # every checkpoint written whole, then renamed (AtomicCheckpointer)
    final = json.loads((out / "metrics.json").read_text().splitlines()[-1])
    assert final["iteration"] == 4
    for key in ("panoptic_seg/PQ", "panoptic_seg/PQ_th", "panoptic_seg/PQ_st", "sem_seg/mIoU", "segm/AP", "bbox/AP"):
        assert key in final, key


def test_lazy_resume_continues_from_the_last_checkpoint_with_its_optimizer_state(trained):
    tmp_path, _ = trained
    saved = torch.load(tmp_path / "out" / "model_final.pth", map_location="cpu", weights_only=False)
    assert saved["iteration"] == 3 and saved["trainer"]["optimizer"]["state"]  # SGD momentum buffers
    log = run_train_net(tmp_path, LAZY_TOY, "--resume", *TINY, "train.max_iter=6", f"train.output_dir={tmp_path / 'out'}")
    assert "Starting training from iteration 4" in log


def test_lazy_eval_only_evaluates_the_given_checkpoint(trained):
    tmp_path, _ = trained
    weights = tmp_path / "out" / "model_final.pth"
    log = run_train_net(tmp_path, LAZY_TOY, "--eval-only", *TINY, f"train.init_checkpoint={weights}",
                    f"train.output_dir={tmp_path / 'eval'}")
    assert "Starting training" not in log and "copypaste: mIoU,fwIoU" in log


@pytest.mark.parametrize("override, message", [
    ("train.max_iters=10", "has no key 'train.max_iters'"),
    ("model.roi_heads.num_clases=3", "has no key 'model.roi_heads.num_clases'"),
    ("train.max_iter=ten", "train.max_iter is an int (now 600), got 'ten'"),
    ("train.max_iter=1.5", "train.max_iter is an int (now 600), got 1.5"),
    ("train.amp.enabled=1", "train.amp.enabled is a bool (now False), got 1"),
    ("optimizer.lr=fast", "optimizer.lr is a number (now 0.04), got 'fast'"),
    ("train.device=0", "train.device is a string (now 'cpu'), got 0"),
    ("dataloader.train.mapper.augmentations.0.short_edge_length=64", "is a list"),
])
def test_bad_override_is_an_error_naming_the_key(override, message):
    with pytest.raises(ValueError, match="override") as error:
        load_lazy_config(str(LAZY_TOY), ["train.max_iter=8", override])
    assert message in str(error.value) and override in str(error.value)


def test_good_overrides_are_applied():
    cfg = load_lazy_config(str(LAZY_TOY), ["train.max_iter=8", "optimizer.lr=1", "train.output_dir=/tmp/x",
                                           "dataloader.train.mapper.augmentations.0.short_edge_length=[64,96]"])
    assert (cfg.train.max_iter, cfg.optimizer.lr, cfg.train.output_dir) == (8, 1, "/tmp/x")
    assert list(cfg.dataloader.train.mapper.augmentations[0].short_edge_length) == [64, 96]


class NaNLoss(torch.nn.Module):
    """A model whose loss is NaN from the first step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, batched_inputs):
        return {"loss_sem_seg": self.weight * float("nan")}


def test_lazy_training_stops_at_a_non_finite_loss_before_stepping(tmp_path):
    cfg = load_lazy_config(str(LAZY_TOY), [f"train.output_dir={tmp_path}", "train.max_iter=3"])
    cfg.model = L(NaNLoss)()
    cfg.dataloader.train = L(itertools.repeat)(object=[{}])  # an empty batch, forever
    cfg.dataloader.evaluator = L(DatasetEvaluators)(evaluators=[])
    with pytest.raises(FloatingPointError, match=r"Non-finite loss at iteration 0: loss_sem_seg = nan \(rank 0\)"):
        lazy.train(cfg, resume=False)
    assert not list(tmp_path.glob("*.pth"))


class Fit(torch.nn.Module):
    """A weight fitted to each batch's targets; in evaluation, no outputs. ``built`` holds each one made."""

    built = []

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.built.append(self)

    def forward(self, batched_inputs):
        if not self.training:
            return [{} for _ in batched_inputs]
        targets = torch.tensor([x["target"] for x in batched_inputs])
        return {"loss_fit": ((self.weight - targets) ** 2).sum()}


def one_empty_batch():
    return [[{}]]


def _lazy_train_process(rank, world_size, output_dir):
    torch.set_num_threads(1)
    cfg = load_lazy_config(str(LAZY_TOY), [f"train.output_dir={output_dir}", "train.max_iter=2", "train.device=cpu"])
    cfg.model = L(Fit)()
    cfg.dataloader.train = L(itertools.repeat)(object=[{"target": float(rank + 1)}])  # each process its own data
    cfg.dataloader.test = L(one_empty_batch)()
    cfg.dataloader.evaluator = L(DatasetEvaluators)(evaluators=[])
    lazy.train(cfg, resume=False)
    return float(Fit.built[-1].weight)


def test_lazy_training_runs_on_several_cpu_processes(tmp_path):
    """DistributedDataParallel of a CPU model (detectron2's create_ddp_model alone passes device ids,
    which DDP refuses): the processes average their gradients."""
    weights = run_on_processes(_lazy_train_process, 2, str(tmp_path))
    # trained on their own targets (1 and 2) alone, the two weights would differ
    assert weights[0] == weights[1] != 0.0
    assert (tmp_path / "model_final.pth").is_file()
