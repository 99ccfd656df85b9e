"""train_net.py run as a user runs it: a subprocess in a scratch folder, on a toy dataset there."""
import os
import subprocess
import sys

from .paths import REPO_ROOT


def run_train_net(tmp_path, config, *args) -> str:
    """Run ``train_net.py --config-file config *args`` in ``tmp_path`` on the toy dataset at
    ``tmp_path / "toy"``; its log (stdout and stderr). A failure shows the log's end."""
    env = dict(os.environ, PANFPN_TOY_ROOT=str(tmp_path / "toy"), OMP_NUM_THREADS="2")
    cmd = [sys.executable, str(REPO_ROOT / "train_net.py"), "--config-file", str(config), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr
