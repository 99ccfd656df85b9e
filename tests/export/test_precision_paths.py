"""Every inference path on the quick start's trained toy (600 iterations; PQ about 80 on its 100
val images) against the eager model in fp32: issue 22's bar for a reduced precision is >= 99 % of
pixels in a segment of the same category and a PQ within 0.5; fp32 on another backend gives the
same map. Not timed: benchmarks/bench_backends.py prints the same comparison beside the speeds."""
import pytest

from panfpn_lite.runtime.precision import cpu_flags

from tests.support.inference_paths import EAGER_FP32, compare_every_path, runtime_path_names
from tests.support.trained_toy import train_quickstart_toy

MIN_REDUCED_PRECISION_AGREEMENT = 0.99
MAX_PQ_CHANGE = 0.5
# fp32 on ONNX Runtime and OpenVINO: the same arithmetic in another order (outputs within ~1e-5)
MIN_FP32_AGREEMENT = 0.9995
# PyTorch's bf16 autocast computes the same roundings on CPUs without bf16 units (slower): the eager
# bf16 path runs on every machine under the flags of a CPU that has them.
EMULATED_BF16_FLAGS = frozenset({"avx512_bf16"})
# The runtime's paths this CPU runs (OpenVINO bf16 needs AMX-BF16 or AVX512-BF16, int8 VNNI or AMX).
RUNTIME_PATHS = runtime_path_names(cpu_flags())[0]


@pytest.fixture(scope="module")
def path_results(tmp_path_factory):
    """{path: (agreement with eager fp32 over the val images, PQ)}."""
    root = tmp_path_factory.mktemp("quickstart_toy")
    cfg, train_images = train_quickstart_toy(root)
    flags = cpu_flags()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("panfpn_d2.modeling.meta_arch.cpu_flags", lambda: flags | EMULATED_BF16_FLAGS)
        results, _ = compare_every_path(cfg, train_images, root / "paths", 2, flags, flags | EMULATED_BF16_FLAGS)
    for name, (agreement, pq) in results.items():
        print(f"{name:<20} {agreement:.5f} of pixels the same category as {EAGER_FP32}; PQ {pq:.2f}")
    return results


def test_the_toy_is_trained(path_results):
    # the quick start's PQ (docs/toy.md: 80.1): far from the near-ties of a barely trained model
    assert path_results[EAGER_FP32][1] > 70


@pytest.mark.parametrize("path", ["PanFPN eager bf16", *RUNTIME_PATHS])
def test_path_agrees_with_eager_fp32_on_the_trained_toy(path_results, path):
    agreement, pq = path_results[path]
    fp32_pq = path_results[EAGER_FP32][1]
    if path.endswith("fp32"):
        assert agreement >= MIN_FP32_AGREEMENT and abs(pq - fp32_pq) <= 0.05, (agreement, pq, fp32_pq)
    else:
        assert agreement >= MIN_REDUCED_PRECISION_AGREEMENT, agreement
        assert abs(pq - fp32_pq) <= MAX_PQ_CHANGE, (pq, fp32_pq)
