"""What the benchmark scripts share: the header of date and machine printed above every table (so
that a copied table carries both), and the repository root on ``sys.path`` for the helpers they
share with the tests (``tests.support``)."""
import datetime
import os
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(REPO_ROOT))  # after the scripts' folder, before site-packages

# The CPU features that decide which kernels torch, oneDNN, OpenBLAS and hotcoco run (lscpu's flags).
SIMD_FLAGS = {
    "x86_64": ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"),
    "aarch64": ("asimd", "sve", "sve2", "bf16"),
}


def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo (Linux), else {}."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or "unknown CPU"


def simd_flags() -> str:
    """e.g. "avx2 fma; no avx512f avx512_vnni avx512_bf16 amx_tile" ("" where unknown)."""
    relevant = SIMD_FLAGS.get(platform.machine(), ())
    present = set((_cpuinfo().get("flags") or _cpuinfo().get("Features") or "").split())
    if not relevant or not present:
        return ""
    have = [f for f in relevant if f in present]
    lacking = [f for f in relevant if f not in present]
    return " ".join(have) + ("; no " + " ".join(lacking) if lacking else "")


def machine_header() -> str:
    """Two lines: the date (UTC) and the machine (CPU model, SIMD flags, logical CPUs, OS, Python)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    flags = simd_flags()
    return (
        f"date: {now}\n"
        f"machine: {cpu_model()} ({platform.machine()}{': ' + flags if flags else ''}), "
        f"{os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
