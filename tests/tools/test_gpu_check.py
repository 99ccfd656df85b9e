"""benchmarks/gpu_check.py runs end to end on the CPU (--device cpu --quick) and refuses a missing GPU clearly."""
import importlib.util
import re

import pytest
import torch

from tests.support.benchmarks import run_benchmark
from tests.support.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.py"


def test_cpu_quick_run_prints_every_part_with_both_sides_and_agreement():
    out = run_benchmark("gpu_check.py", "--device", "cpu", "--quick", timeout=1200)
    assert re.search(r"^merge .*detectron2 [\d.]+ ms, panfpn_d2 [\d.]+ ms, speed-up [\d.]+x; outputs identical$", out, re.M)
    for precision in ("float32", "amp"):
        assert re.search(rf"^training step, {precision}, .*detectron2 [\d.]+ ms, panfpn_d2 [\d.]+ ms, "
                         r"ratio .* [\d.]+; losses equal", out, re.M), out
    for side in ("panfpn_d2", r"panfpn_d2 OUTPUTS \(panoptic_seg,\)"):
        assert re.search(rf"^inference, {side}: [\d.]+ ms per image vs detectron2 [\d.]+ ms, speed-up [\d.]+x; "
                         r"panoptic output identical$", out, re.M), out


def test_cuda_device_without_cuda_exits_with_a_clear_message(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--device cuda: CUDA is not available"):
        gpu_check.main(["--device", "cuda"])
