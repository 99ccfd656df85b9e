"""The benchmark against detectron2's PanopticFPN runs end to end in --quick mode."""
import re

from tests.support.benchmarks import run_benchmark

ROWS = ["total", "backbone", "proposals", "roi heads", "semantic head", "merge", "forward+backward+step"]


def test_quick_mode_prints_both_sides_and_ratios():
    out = run_benchmark("bench_vs_detectron2.py", "--quick", "--threads", "1")
    assert "outputs identical" in out
    pasted = [int(n) for n in re.findall(r"\((\d+) pasted\)", out)]
    assert pasted and min(pasted) > 0, "the merge should have instances to paste"
    for row in ROWS:
        match = re.search(rf"^{re.escape(row)} +detectron2 +([\d.]+) ms +panfpn_d2 +([\d.]+) ms .* ([\d.]+)$", out, re.M)
        assert match, f"no line for {row!r} in:\n{out}"
        assert all(float(value) > 0 for value in match.groups()), match.group(0)
