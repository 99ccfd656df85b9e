"""The panfpn-data check benchmark runs end to end on a few small images and prints both rates."""
import re

from tests.support.benchmarks import run_benchmark


def test_a_small_run_prints_the_load_and_both_rates():
    out = run_benchmark("bench_data_check.py", "--images", "6", "--height", "48", "--width", "64")
    assert re.search(r"^load average [\d.]+ [\d.]+ [\d.]+$", out, re.M), out  # the date and machine: run_benchmark
    for workers in (1, 2):
        assert re.search(rf"^check, {workers} process\(es\): [\d.]+ s, [\d.]+ images/s \(5,000 images: [\d.]+ min\)$",
                         out, re.M), out
