"""The ONNX Runtime vs eager benchmark runs end to end in --quick mode."""
import re
import subprocess
import sys

from tests.support.paths import REPO_ROOT


def test_quick_mode_prints_both_times_ratio_and_agreement():
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_export.py"), "--quick", "--threads", "1"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = re.findall(r"^(\S+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +(\d+)$", result.stdout, re.M)
    assert len(rows) == 3, result.stdout
    for name, eager_s, runtime_s, ratio, agreement, things in rows:
        assert float(eager_s) > 0 and float(runtime_s) > 0 and float(ratio) > 0, name
        assert float(agreement) >= 0.98 and int(things) > 0, name
    assert re.search(r"^total +[\d.]+ +[\d.]+ +[\d.]+$", result.stdout, re.M)
