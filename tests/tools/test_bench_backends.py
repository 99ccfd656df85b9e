"""The backends benchmark runs end to end in --quick mode and prints every side, its agreement
and the machine's limit (no timing assertions)."""
import re

from tests.support.benchmarks import run_benchmark

ROW = re.compile(
    r"^(?P<path>\S.*?) +(?P<seconds>[\d.]+) +(?P<ratio>[\d.]+) +(?P<agreement>[\d.]+) +(?P<gflops>[\d.]+) "
    r"+(?P<peak>[\d.]+)  \d+ x [\d.]+ GHz x \d+ \(.+\) = \d+ GFLOP/s$",
    re.M,
)


def test_quick_mode_prints_every_path_with_ratio_agreement_and_share_of_peak():
    out = run_benchmark("bench_backends.py", "--quick", "--threads", "1", timeout=600)
    assert re.search(r"^date: \d{4}-\d\d-\d\d", out, re.M), out
    assert re.search(r"^machine: ", out, re.M) and re.search(r"^clock: \d+ MHz", out, re.M), out
    assert re.search(r"^flags: ", out, re.M), out
    assert re.search(r"^model: [\d.]+ G multiply-adds = [\d.]+ GFLOPs per image", out, re.M), out
    rows = {m["path"]: m for m in ROW.finditer(out)}
    for path in ("detectron2 eager fp32", "PanFPN eager fp32", "onnxruntime fp32", "openvino fp32"):
        assert path in rows, out
        assert float(rows[path]["seconds"]) > 0 and float(rows[path]["gflops"]) > 0, path
        assert float(rows[path]["agreement"]) >= 0.98, (path, out)
    assert float(rows["detectron2 eager fp32"]["ratio"]) == 1.0
    # every precision neither run nor listed as left out would be a silent omission
    reduced = [f"{backend} {precision}" for precision in ("bf16", "int8") for backend in ("onnxruntime", "openvino")]
    for name in reduced + ["PanFPN eager bf16"]:
        assert name in rows or f"left out: {name}: " in out, (name, out)
