"""The panoptic-only benchmark against detectron2 runs end to end in --quick mode."""
import re

from tests.support.benchmarks import run_benchmark


def test_quick_mode_prints_both_sides_ratios_and_agreement():
    out = run_benchmark("bench_panoptic_only.py", "--quick", "--threads", "1", timeout=900)
    images = re.findall(r"^image \d: 100 detections, (\d+) >= 0.5; panoptic output vs detectron2: identical$", out, re.M)
    assert len(images) == 2 and all(0 < int(n) < 50 for n in images), out
    for row in ("total", "backbone", "semantic head", "mask head", "merge"):
        assert re.search(rf"^{row} +detectron2 +[\d.]+ ms +panfpn_d2 \(panoptic only\) +[\d.]+ ms +speed-up .* [\d.]+$",
                         out, re.M), f"no line for {row!r} in:\n{out}"
