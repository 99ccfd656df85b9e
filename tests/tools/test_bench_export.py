"""The ONNX Runtime vs eager benchmark runs end to end in --quick mode."""
import re

from tests.support.benchmarks import run_benchmark


def test_quick_mode_prints_both_times_ratio_and_agreement():
    out = run_benchmark("bench_export.py", "--quick", "--threads", "1")
    rows = re.findall(r"^(\S+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +(\d+)$", out, re.M)
    assert len(rows) == 3, out
    for name, eager_s, runtime_s, ratio, agreement, things in rows:
        assert float(eager_s) > 0 and float(runtime_s) > 0 and float(ratio) > 0, name
        assert float(agreement) >= 0.98 and int(things) > 0, name
    assert re.search(r"^total +[\d.]+ +[\d.]+ +[\d.]+$", out, re.M)
