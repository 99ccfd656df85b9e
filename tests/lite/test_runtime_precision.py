"""panfpn-predict's precision choice from injected CPU flag sets: what runs where, what ``auto``
picks, and errors naming the missing CPU feature instead of a fall back."""
import re

import pytest

from panfpn_lite.runtime.precision import PrecisionError, choose_precision, cpu_flags

AVX2 = frozenset({"avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16", "avx512_vnni"}
AMX = AVX512_BF16 | {"amx_bf16", "amx_int8", "amx_tile"}


@pytest.mark.parametrize(
    "backend, flags, quantized, expected",
    [
        ("onnxruntime", AVX2, False, "fp32"),
        ("onnxruntime", AMX, False, "fp32"),  # no bf16 path in ONNX Runtime
        ("openvino", AVX2, False, "fp32"),
        ("openvino", AVX512_BF16, False, "bf16"),
        ("openvino", AMX, False, "bf16"),
        ("openvino", AMX, True, "int8"),
        ("onnxruntime", AVX2 | {"avx_vnni"}, True, "int8"),
    ],
)
def test_auto_picks_the_fastest_precision_the_cpu_runs(backend, flags, quantized, expected):
    precision, why = choose_precision(backend, "auto", flags, quantized)
    assert precision == expected
    assert why.startswith("auto: ")


def test_auto_says_why_it_stays_in_fp32():
    _, why = choose_precision("openvino", "auto", AVX2, False)
    assert "no bf16 units" in why and "avx512_bf16" in why and "amx_bf16" in why
    _, why = choose_precision("openvino", "auto", AMX, False)
    assert "AMX-BF16" in why


@pytest.mark.parametrize(
    "backend, precision, flags, quantized, message",
    [
        ("openvino", "bf16", AVX2, False, "AMX-BF16 (cpu flag amx_bf16) or AVX512-BF16 (cpu flag avx512_bf16)"),
        ("onnxruntime", "bf16", AMX, False, "onnxruntime has no bf16 CPU path"),
        ("openvino", "int8", AMX, False, "--quantize int8 --calibration-images"),
        ("openvino", "int8", AVX2, True, "AVX512-VNNI (cpu flag avx512_vnni)"),
        ("openvino", "fp32", AMX, True, "the model file is quantized"),
        ("openvino", "auto", AVX2, True, "AVX-VNNI (cpu flag avx_vnni)"),
    ],
)
def test_a_precision_the_cpu_cannot_run_is_an_error_naming_what_is_missing(backend, precision, flags, quantized, message):
    with pytest.raises(PrecisionError, match=re.escape(message)):
        choose_precision(backend, precision, flags, quantized)


def test_explicit_precisions_run_where_the_cpu_has_units():
    assert choose_precision("onnxruntime", "fp32", AVX2, False)[0] == "fp32"
    assert choose_precision("openvino", "bf16", AVX512_BF16, False)[0] == "bf16"
    assert choose_precision("onnxruntime", "int8", AVX512_BF16, True)[0] == "int8"


def test_cpu_flags_read_the_first_processor(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()
