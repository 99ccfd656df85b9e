"""Which numeric precision ``panfpn-predict`` runs the network in, from the CPU's flags.

A precision runs only where the CPU has units for it; asking for one it lacks is an error that
names the missing feature, never a silent fall back to another precision. The flags are the
kernel's (``/proc/cpuinfo``), so no torch is needed to read them.
"""
from typing import AbstractSet, Dict, Tuple

BACKENDS = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
AUTO = "auto"

# /proc/cpuinfo flag -> the feature's name, fastest first.
BF16_FEATURES: Dict[str, str] = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}
# Without VNNI, x86 int8 kernels (u8 x s8 through 16-bit sums) can saturate, and are not faster.
INT8_FEATURES: Dict[str, str] = {"amx_int8": "AMX-INT8", "avx512_vnni": "AVX512-VNNI", "avx_vnni": "AVX-VNNI"}
QUANTIZE_HINT = (
    "int8 needs a quantized export: python -m panfpn_d2.tools.export ... --quantize int8 "
    "--calibration-images DIR"
)


class PrecisionError(ValueError):
    """A precision this backend, CPU or model file cannot run; the message says what is missing."""


def cpu_flags(path: str = "/proc/cpuinfo") -> AbstractSet[str]:
    """The CPU's feature flags (the first processor's ``flags`` line); empty where there is no such file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def _present(features: Dict[str, str], flags: AbstractSet[str]):
    return [name for flag, name in features.items() if flag in flags]


def _missing(features: Dict[str, str]) -> str:
    return " or ".join(f"{name} (cpu flag {flag})" for flag, name in features.items())


def check_precision(backend: str, precision: str, flags: AbstractSet[str], quantized_model: bool) -> str:
    """Why ``precision`` runs here (a sentence); PrecisionError naming what is missing otherwise."""
    if precision == "int8":
        if not quantized_model:
            raise PrecisionError(f"--precision int8: the model file is not quantized; {QUANTIZE_HINT}")
        units = _present(INT8_FEATURES, flags)
        if not units:
            raise PrecisionError(f"--precision int8 needs a CPU with {_missing(INT8_FEATURES)}; this CPU has none")
        return f"quantized model, this CPU has {', '.join(units)}"
    if quantized_model:
        raise PrecisionError(
            f"--precision {precision}: the model file is quantized (int8); run it with --precision int8 "
            "or export the model without --quantize"
        )
    if precision == "fp32":
        return "fp32 runs on every CPU"
    if precision == "bf16":
        if backend != "openvino":
            raise PrecisionError(
                f"--precision bf16: {backend} has no bf16 CPU path for this graph; use --backend openvino"
            )
        units = _present(BF16_FEATURES, flags)
        if not units:
            raise PrecisionError(f"--precision bf16 needs a CPU with {_missing(BF16_FEATURES)}; this CPU has neither")
        return f"this CPU has {', '.join(units)}"
    raise PrecisionError(f"--precision {precision!r}: expected one of {PRECISIONS + (AUTO,)}")


def choose_precision(backend: str, requested: str, flags: AbstractSet[str], quantized_model: bool) -> Tuple[str, str]:
    """(precision, why): ``requested`` checked, or for ``auto`` the fastest one this backend, CPU
    and model file run -- int8 for a quantized model, else bf16 (OpenVINO on bf16 units), else fp32."""
    if requested != AUTO:
        return requested, check_precision(backend, requested, flags, quantized_model)
    if quantized_model:
        return "int8", "auto: " + check_precision(backend, "int8", flags, quantized_model)
    if backend == "openvino" and _present(BF16_FEATURES, flags):
        return "bf16", "auto: " + check_precision(backend, "bf16", flags, quantized_model)
    if backend == "openvino":
        why = f"this CPU has no bf16 units ({_missing(BF16_FEATURES)})"
    else:
        why = f"{backend} has no bf16 CPU path for this graph"
    return "fp32", f"auto: the model is not quantized and {why}"


# The precisions of the eager (PyTorch) model's inference: MODEL.PANFPN.INFERENCE_PRECISION.
EAGER_PRECISIONS = ("fp32", "bf16", "fp16", AUTO)


def choose_eager_precision(requested: str, device_type: str, flags: AbstractSet[str]) -> Tuple[str, str]:
    """(precision, why) of the eager model's autocast on ``device_type`` ("cpu", "cuda"): bf16 on
    CPUs with bf16 units, fp16 on CUDA, fp32 anywhere; PrecisionError naming what is missing.
    ``auto`` is bf16 on a CPU with bf16 units (on the quick start's trained toy it kept 99.8 % of
    pixels in fp32's category, PQ +0.02; tests/export/test_precision_paths.py) and fp32 elsewhere:
    fp16 on CUDA has not been measured (docs/deployment.md)."""
    key = "MODEL.PANFPN.INFERENCE_PRECISION"
    if requested == "fp32":
        return "fp32", "fp32 runs on every device"
    if requested == AUTO:
        units = _present(BF16_FEATURES, flags)
        if device_type == "cpu" and units:
            return "bf16", f"auto: this CPU has {', '.join(units)}"
        why = "no bf16 units on this CPU" if device_type == "cpu" else f"fp16 is not measured on {device_type}"
        return "fp32", f"auto: {why}"
    if requested == "bf16":
        if device_type != "cpu":
            raise PrecisionError(f"{key} bf16 is the CPU's autocast; on {device_type} use fp16")
        units = _present(BF16_FEATURES, flags)
        if not units:
            raise PrecisionError(f"{key} bf16 needs a CPU with {_missing(BF16_FEATURES)}; this CPU has neither")
        return "bf16", f"this CPU has {', '.join(units)}"
    if requested == "fp16":
        if device_type != "cuda":
            raise PrecisionError(f"{key} fp16 needs a CUDA device (MODEL.DEVICE cuda), got {device_type!r}")
        return "fp16", "CUDA runs fp16"
    raise PrecisionError(f"{key} must be one of {EAGER_PRECISIONS}, got {requested!r}")
