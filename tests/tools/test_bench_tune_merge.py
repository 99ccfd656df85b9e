"""The merge tuning benchmark runs end to end on a tiny toy and prints both times and their ratio."""
import re

from tests.support.benchmarks import run_benchmark


def test_small_run_prints_both_times_the_ratio_and_where_the_time_goes():
    out = run_benchmark("bench_tune_merge.py", "--num-val", "2", "--iters", "3", "--threads", "1", timeout=600)
    assert re.search(r"^toy val: 2 images of 128x128; 27 settings;", out, re.M), out
    assert re.search(r"^one evaluation +[\d.]+ s$", out, re.M), out
    assert re.search(r"^tuning, 27 settings +[\d.]+ s +ratio [\d.]+$", out, re.M), out
    for part in ("network", "read \\+ decode", "merge \\+ encode", "PQ"):
        assert re.search(rf"^  {part} +[\d.]+ s$", out, re.M), (part, out)
