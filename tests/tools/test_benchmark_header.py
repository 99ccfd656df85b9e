"""Every benchmark prints the date and the machine (CPU model and SIMD flags) with its table."""
import ast

import pytest

from benchmarks import common
from tests.support.benchmarks import run_benchmark
from tests.support.paths import REPO_ROOT

SCRIPTS = sorted(p.name for p in (REPO_ROOT / "benchmarks").glob("*.py") if p.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_prints_the_machine_header(script):
    tree = ast.parse((REPO_ROOT / "benchmarks" / script).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "machine_header"]
    assert calls, f"benchmarks/{script} does not print machine_header()"


def test_a_run_prints_date_and_machine_above_its_table():
    out = run_benchmark("bench_pq_cli.py", "--images", "2", "--height", "32", "--width", "48", "--repeats", "1")
    assert out.index("machine: ") < out.index("panopticapi pq_compute (in process)")


def test_simd_flags_name_those_present_and_those_missing(monkeypatch):
    monkeypatch.setattr(common.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(common, "_cpuinfo", lambda: {"model name": "Some CPU", "flags": "fpu sse4_2 avx avx2 fma"})
    assert common.simd_flags() == "avx2 fma; no avx512f avx512_vnni avx512_bf16 amx_tile"
    assert "machine: Some CPU (x86_64: avx2 fma; no avx512f" in common.machine_header()
    monkeypatch.setattr(common, "_cpuinfo", lambda: {})
    assert common.simd_flags() == ""
