"""Running a script of benchmarks/ as a user does, in a subprocess from the repository root."""
import re
import subprocess
import sys

from .paths import REPO_ROOT

MACHINE_HEADER = r"^date: \d{4}-\d\d-\d\d \d\d:\d\d UTC\nmachine: .+ \d+ logical CPUs, .+, Python \d"


def run_benchmark(script: str, *args: str, timeout: int = 300) -> str:
    """The stdout of ``python benchmarks/<script> <args>``, after checking it exited with 0 and printed
    the date and machine (benchmarks/common.py's header) with its table."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / script), *args],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(MACHINE_HEADER, result.stdout, re.M), result.stdout[-3000:]
    return result.stdout
