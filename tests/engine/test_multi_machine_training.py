"""train_net.py across machines through detectron2's launcher flags, on the CPU (gloo): two
"machines" of one process each (--num-machines 2 --machine-rank 0/1 --dist-url tcp://...) train
the toy and evaluate, ending with the same weights as two processes on one machine (--num-gpus 2)."""
import os
import subprocess
import sys

import pytest
import torch

from panfpn_d2.data.toy import generate_toy_dataset
from tests.support.distributed import _free_port
from tests.support.paths import REPO_ROOT, TOY_CONFIG

SMALL = [
    "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(1,)",
    "DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
    "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64", "SEED", "1",
]


def start(tmp_path, output_dir, *launcher_flags):
    env = dict(os.environ, PANFPN_TOY_ROOT=str(tmp_path / "toy"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(REPO_ROOT / "train_net.py"), "--config-file", str(TOY_CONFIG), *launcher_flags,
           *SMALL, "OUTPUT_DIR", str(tmp_path / output_dir)]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process) -> str:
    log, _ = process.communicate(timeout=600)
    assert process.returncode == 0, log[-4000:]
    return log


def final_weights(path):
    return torch.load(path / "model_final.pth", map_location="cpu", weights_only=False)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("multi_machine")
    generate_toy_dataset(tmp_path / "toy", num_train=4, num_val=1, size=64)
    one_machine = finish(start(tmp_path, "one_machine", "--num-gpus", "2"))
    url = f"tcp://127.0.0.1:{_free_port()}"
    machines = [start(tmp_path, "two_machines", "--num-machines", "2", "--machine-rank", str(rank), "--dist-url", url)
                for rank in (0, 1)]
    return tmp_path, one_machine, [finish(m) for m in machines]


def test_two_machines_train_and_evaluate(runs):
    tmp_path, _, (machine0, _) = runs
    assert "Starting training from iteration 0" in machine0
    assert "copypaste: PQ,SQ,RQ,PQ_th" in machine0  # the main process prints the evaluation
    # the other process logs to the console only warnings, to its own log file everything
    assert "Starting training from iteration 0" in (tmp_path / "two_machines" / "log.txt.rank1").read_text()
    assert (tmp_path / "two_machines" / "model_final.pth").is_file()


def test_two_machines_end_with_the_weights_of_two_processes_on_one_machine(runs):
    tmp_path, one_machine, _ = runs
    assert "copypaste: PQ,SQ,RQ,PQ_th" in one_machine
    expected, actual = final_weights(tmp_path / "one_machine"), final_weights(tmp_path / "two_machines")
    assert actual.keys() == expected.keys()
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key
    assert not all(torch.equal(value, 0 * value) for value in expected.values())
