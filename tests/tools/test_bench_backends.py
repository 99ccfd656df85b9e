"""The backends benchmark runs end to end in --quick mode and prints every side, its agreement
and the machine's limit (no timing assertions)."""
import re

from tests.support.benchmarks import run_benchmark

ROW = re.compile(
    r"^(?P<path>\S.*?) +(?P<seconds>[\d.]+) +(?P<ratio>[\d.]+) +(?P<agreement>[\d.]+) +(?P<gflops>[\d.]+) "
    r"+(?P<peak>[\d.]+)  \d+ x [\d.]+ GHz x \d+ \(.+\) = \d+ GFLOP/s$",
    re.M,
)
TOY_ROW = re.compile(r"^(?P<path>\S.*?) +(?P<agreement>[\d.]+) +(?P<pq>[\d.]+) +(?P<change>[+-][\d.]+)$", re.M)


def test_quick_mode_prints_every_path_with_ratio_agreement_and_share_of_peak():
    out = run_benchmark("bench_backends.py", "--quick", "--threads", "1", timeout=600)
    assert re.search(r"^date: \d{4}-\d\d-\d\d", out, re.M), out
    assert re.search(r"^machine: ", out, re.M) and re.search(r"^clock: \d+ MHz", out, re.M), out
    assert re.search(r"^flags: ", out, re.M), out
    assert re.search(r"^model: [\d.]+ G multiply-adds = [\d.]+ GFLOPs per image", out, re.M), out
    rows = {m["path"]: m for m in ROW.finditer(out)}
    for path in ("detectron2 eager fp32", "PanFPN eager fp32", "PanFPN eager fp32 panoptic-only", "onnxruntime fp32",
                 "openvino fp32"):
        assert path in rows, out
        assert float(rows[path]["seconds"]) > 0 and float(rows[path]["gflops"]) > 0, path
        assert float(rows[path]["agreement"]) >= 0.98, (path, out)
    assert float(rows["detectron2 eager fp32"]["ratio"]) == 1.0
    # every precision neither run nor listed as left out would be a silent omission
    reduced = [f"{backend} {precision}" for precision in ("bf16", "int8") for backend in ("onnxruntime", "openvino")]
    for name in reduced + ["PanFPN eager bf16"]:
        assert name in rows or f"left out: {name}: " in out, (name, out)
    # the trained toy's table: every path's agreement with eager fp32 and its PQ on the val split
    assert re.search(r"^trained toy: .+model_final\.pth; 4 images of \S+_val at 128 px", out, re.M), out
    toy_rows = {m["path"]: m for m in TOY_ROW.finditer(out)}
    only_r50 = ("detectron2 eager fp32", "PanFPN eager fp32 panoptic-only")
    assert set(toy_rows) == {name for name in rows if name not in only_r50}, out
    assert float(toy_rows["PanFPN eager fp32"]["agreement"]) == 1.0 and float(toy_rows["PanFPN eager fp32"]["change"]) == 0
    assert float(toy_rows["onnxruntime fp32"]["agreement"]) >= 0.99, out


def test_a_subset_of_paths_and_images_without_the_toy_table():
    out = run_benchmark("bench_backends.py", "--quick", "--threads", "1", "--paths", "openvino fp32",
                        "--images", "000000439180.jpg", "--no-toy-table", timeout=600)
    assert set(m["path"] for m in ROW.finditer(out)) == {"detectron2 eager fp32", "openvino fp32"}, out
    assert "1 images" in out and "trained toy:" not in out, out
