"""A real toy training run (train_net.py) killed with SIGKILL after its first checkpoint resumes with
``--resume`` from that checkpoint: same iteration, LR schedule, optimizer state and weights."""
import os
import signal
import subprocess
import sys
import time

import torch

from panfpn_d2.engine import Trainer

from tests.support.configs import TOY_TRAIN_OPTS, command_line_opts, make_toy_root, toy_cfg
from tests.support.paths import REPO_ROOT, TOY_CONFIG
from tests.support.training import assert_same_state

SCHEDULE = [("SOLVER.MAX_ITER", 5), ("SOLVER.CHECKPOINT_PERIOD", 2)]  # checkpoints after iterations 1 and 3
TIMEOUT_S = 300


def _train_net(toy_root, output_dir, log_file, *flags):
    command = [sys.executable, str(REPO_ROOT / "train_net.py"), "--config-file", str(TOY_CONFIG), *flags,
               *command_line_opts(TOY_TRAIN_OPTS + SCHEDULE), "OUTPUT_DIR", str(output_dir)]
    env = dict(os.environ, PANFPN_TOY_ROOT=str(toy_root))
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def _kill_after_first_checkpoint(process, output_dir, log_path):
    deadline = time.monotonic() + TIMEOUT_S
    while not (output_dir / "last_checkpoint").exists():
        assert process.poll() is None, f"training ended before its first checkpoint:\n{log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


def test_killed_toy_training_resumes_from_its_last_checkpoint(tmp_path):
    toy_root, output_dir = make_toy_root(tmp_path / "toy"), tmp_path / "out"
    first_log = tmp_path / "first.log"
    with open(first_log, "w") as log:
        _kill_after_first_checkpoint(_train_net(toy_root, output_dir, log), output_dir, first_log)
    assert not (output_dir / "model_final.pth").exists()
    checkpoint_file = output_dir / (output_dir / "last_checkpoint").read_text()
    checkpoint = torch.load(checkpoint_file, map_location="cpu", weights_only=False)
    iteration = checkpoint["iteration"]
    assert checkpoint_file.name == f"model_{iteration:07d}.pth"
    assert checkpoint["trainer"]["_trainer"]["optimizer"]["state"], "SGD momentum buffers were saved"

    # Resuming as train_net.py does: Trainer(cfg).resume_or_load(resume=True).
    trainer = Trainer(toy_cfg(toy_root, output_dir, *command_line_opts(SCHEDULE)))
    trainer.resume_or_load(resume=True)
    assert (trainer.iter, trainer.start_iter) == (iteration, iteration + 1)
    assert_same_state(trainer.model.state_dict(), checkpoint["model"], "weights")
    assert_same_state(trainer.optimizer.state_dict(), checkpoint["trainer"]["_trainer"]["optimizer"], "optimizer")
    assert_same_state(trainer.scheduler.state_dict(), checkpoint["trainer"]["hooks"]["LRScheduler"], "scheduler")
    assert trainer.scheduler.last_epoch == iteration + 1
    del trainer

    with open(tmp_path / "resumed.log", "w") as log:
        resumed = _train_net(toy_root, output_dir, log, "--resume")
        assert resumed.wait(timeout=TIMEOUT_S) == 0, (tmp_path / "resumed.log").read_text()[-3000:]
    resumed_log = (tmp_path / "resumed.log").read_text()
    assert f"Loading from {checkpoint_file}" in resumed_log
    assert f"Starting training from iteration {iteration + 1}" in resumed_log
    assert (output_dir / "last_checkpoint").read_text() == "model_final.pth"
    final = torch.load(output_dir / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["iteration"] == dict(SCHEDULE)["SOLVER.MAX_ITER"] - 1
