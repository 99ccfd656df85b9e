"""Checkpoints are written whole then renamed: an error or a kill during a save leaves
``last_checkpoint`` pointing at a complete, loadable file; the Trainer saves through them."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from detectron2.engine import hooks

from panfpn_d2.engine import AtomicCheckpointer, FiniteLossAMPTrainer, FiniteLossTrainer, Trainer

from tests.support.configs import make_toy_root, toy_cfg
from tests.support.paths import REPO_ROOT


def _model(seed):
    torch.manual_seed(seed)
    return nn.Linear(4, 3)


def _checkpointer(folder, seed):
    return AtomicCheckpointer(_model(seed), str(folder), save_to_disk=True)


def _interrupted_torch_save(data, f):
    f.write(b"\x80\x02 half a checkpoint")
    raise OSError("No space left on device")


def _assert_resumes_from_first_save(folder):
    """The first save (seed 0, iteration 1) is what a fresh checkpointer resumes from."""
    assert (folder / "last_checkpoint").read_text() == "model_final.pth"
    fresh = _checkpointer(folder, seed=1)
    checkpoint = fresh.resume_or_load("", resume=True)
    assert checkpoint["iteration"] == 1
    torch.testing.assert_close(fresh.model.state_dict(), _model(seed=0).state_dict(), rtol=0, atol=0)
    assert sorted(p.name for p in folder.iterdir()) == ["last_checkpoint", "model_final.pth"]


@pytest.mark.parametrize("name", ["model_0000002", "model_final"])
def test_error_during_save_keeps_last_checkpoint_loadable(tmp_path, monkeypatch, name):
    _checkpointer(tmp_path, seed=0).save("model_final", iteration=1)
    second = _checkpointer(tmp_path, seed=2)
    monkeypatch.setattr(torch, "save", _interrupted_torch_save)
    with pytest.raises(OSError, match="No space left"):
        second.save(name, iteration=2)  # "model_final": overwriting the very file last_checkpoint names
    _assert_resumes_from_first_save(tmp_path)


def test_kill_during_save_keeps_last_checkpoint_loadable(tmp_path):
    # SIGKILL runs no clean-up: only a hidden temporary file may be left behind.
    script = textwrap.dedent(
        f"""
        import os, signal, sys, torch
        from torch import nn
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from panfpn_d2.engine.checkpoint import AtomicCheckpointer

        torch.manual_seed(0)
        checkpointer = AtomicCheckpointer(nn.Linear(4, 3), {str(tmp_path)!r}, save_to_disk=True)
        checkpointer.save("model_final", iteration=1)
        torch.manual_seed(2)
        checkpointer.model.reset_parameters()

        def killed_while_writing(data, f):
            f.write(b"half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = killed_while_writing
        checkpointer.save("model_final", iteration=2)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".model_final.pth.")]
    assert len(leftovers) == 1 and leftovers[0].read_bytes() == b"half a checkpoint"
    os.remove(leftovers[0])
    _assert_resumes_from_first_save(tmp_path)


def test_next_save_removes_what_a_killed_save_left(tmp_path):
    killed = tmp_path / ".model_final.pth.0123456789ab.tmp"
    killed.write_bytes(b"half a checkpoint")
    unrelated = [tmp_path / ".model_0000099.pth.0123456789ab.tmp", tmp_path / ".model_final.pth.notours.tmp"]
    for path in unrelated:
        path.write_bytes(b"kept")
    _checkpointer(tmp_path, seed=0).save("model_final", iteration=1)
    assert not killed.exists() and all(path.read_bytes() == b"kept" for path in unrelated)
    for path in unrelated:
        os.remove(path)
    _assert_resumes_from_first_save(tmp_path)


@pytest.mark.parametrize("amp", [False, True])
def test_trainer_saves_atomically_and_checks_losses(tmp_path, amp):
    cfg = toy_cfg(make_toy_root(tmp_path / "toy"), tmp_path / "out", "SOLVER.AMP.ENABLED", amp)
    trainer = Trainer(cfg)
    assert isinstance(trainer.checkpointer, AtomicCheckpointer)
    periodic = [h for h in trainer._hooks if isinstance(h, hooks.PeriodicCheckpointer)]
    assert len(periodic) == 1 and periodic[0].checkpointer is trainer.checkpointer
    assert type(trainer._trainer) is (FiniteLossAMPTrainer if amp else FiniteLossTrainer)
    assert trainer.checkpointer.model is trainer.model
