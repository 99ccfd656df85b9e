"""The plugin inside another detectron2 project: detectron2's DefaultTrainer trains PanFPN."""
import os
import subprocess
import sys

from panfpn_d2.data.toy import generate_toy_dataset
from tests.support.paths import REPO_ROOT


def test_detectron2_default_trainer_trains_panfpn(tmp_path):
    generate_toy_dataset(tmp_path / "toy", num_train=6, num_val=2, size=64)
    env = dict(os.environ, PANFPN_TOY_ROOT=str(tmp_path / "toy"))
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "plugin_default_trainer.py"),
         "--max-iter", "3", "--output-dir", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "PanFPN(" in log  # the model DefaultTrainer built and logged
    assert "loss_sem_seg" in log and "loss_mask" in log
    assert (tmp_path / "out" / "model_final.pth").is_file()
