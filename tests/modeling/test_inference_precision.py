"""MODEL.PANFPN.INFERENCE_PRECISION: the eager network under autocast where the device has units
for it, an error naming the missing feature where not, fp32 merge and post-processing."""
import pytest
import torch
from detectron2.modeling import build_model

from panfpn_d2.modeling import PanFPNWithTTA
from panfpn_lite.runtime.precision import PrecisionError, choose_eager_precision

from tests.support.configs import tiny_cfg

NO_BF16 = frozenset({"avx", "avx2", "fma", "avx512f"})
AVX512_BF16 = NO_BF16 | {"avx512_bf16"}


@pytest.mark.parametrize(
    "requested, device, flags, expected",
    [
        ("fp32", "cpu", NO_BF16, "fp32"),
        ("bf16", "cpu", AVX512_BF16, "bf16"),
        ("bf16", "cpu", NO_BF16 | {"amx_bf16"}, "bf16"),
        ("fp16", "cuda", NO_BF16, "fp16"),
        ("auto", "cpu", AVX512_BF16, "bf16"),
        ("auto", "cpu", NO_BF16 | {"amx_bf16"}, "bf16"),
        ("auto", "cpu", NO_BF16, "fp32"),
        ("auto", "cuda", AVX512_BF16, "fp32"),
    ],
)
def test_precision_the_device_runs_is_chosen(requested, device, flags, expected):
    assert choose_eager_precision(requested, device, flags)[0] == expected


@pytest.mark.parametrize(
    "requested, device, message",
    [
        ("bf16", "cpu", "bf16 needs a CPU with AMX-BF16 (cpu flag amx_bf16) or AVX512-BF16 (cpu flag avx512_bf16)"),
        ("bf16", "cuda", "bf16 is the CPU's autocast; on cuda use fp16"),
        ("fp16", "cpu", "fp16 needs a CUDA device (MODEL.DEVICE cuda), got 'cpu'"),
        ("int8", "cpu", "must be one of"),
    ],
)
def test_precision_the_device_cannot_run_is_an_error_naming_what_is_missing(requested, device, message):
    with pytest.raises(PrecisionError, match="MODEL.PANFPN.INFERENCE_PRECISION") as error:
        choose_eager_precision(requested, device, NO_BF16)
    assert message in str(error.value)


def test_config_key_is_validated_and_checked_at_build(monkeypatch):
    with pytest.raises(ValueError, match="MODEL.PANFPN.INFERENCE_PRECISION must be one of"):
        build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.INFERENCE_PRECISION", "fp8"))
    monkeypatch.setattr("panfpn_d2.modeling.meta_arch.cpu_flags", lambda: NO_BF16)
    with pytest.raises(PrecisionError, match="bf16 needs a CPU with AMX-BF16"):
        build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.INFERENCE_PRECISION", "bf16", "MODEL.DEVICE", "cpu"))
    monkeypatch.setattr("panfpn_d2.modeling.meta_arch.cpu_flags", lambda: AVX512_BF16)
    model = build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.INFERENCE_PRECISION", "bf16", "MODEL.DEVICE", "cpu"))
    assert model.inference_dtype == torch.bfloat16


def test_bf16_network_gives_fp32_outputs(monkeypatch):
    """The network runs in bf16 (autocast), what the merge and post-processing read is fp32."""
    monkeypatch.setattr("panfpn_d2.modeling.meta_arch.cpu_flags", lambda: AVX512_BF16)
    model = build_model(tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.INFERENCE_PRECISION", "bf16")).eval()
    seen = []
    model.sem_seg_head.predictor.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    torch.manual_seed(0)
    with torch.no_grad():
        raw = model.inference_raw([{"image": torch.rand(3, 64, 96) * 255}])
    assert seen == [torch.bfloat16]
    assert raw.sem_seg_logits.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in raw.instance_features.values())
    for instances in raw.instances:
        assert instances.pred_boxes.tensor.dtype == torch.float32 and instances.scores.dtype == torch.float32


def test_tta_runs_each_augmentation_in_the_inference_precision(monkeypatch):
    monkeypatch.setattr("panfpn_d2.modeling.meta_arch.cpu_flags", lambda: AVX512_BF16)
    cfg = tiny_cfg("Base-PanFPN.yaml", "MODEL.PANFPN.INFERENCE_PRECISION", "bf16", "TEST.AUG.MIN_SIZES", (48, 64),
                   "TEST.AUG.MAX_SIZE", 1000, "TEST.AUG.FLIP", True)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    seen = []
    model.sem_seg_head.predictor.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    with torch.no_grad():
        result = PanFPNWithTTA(cfg, model)([{"image": torch.randint(0, 256, (3, 64, 80), dtype=torch.uint8)}])[0]
    assert seen == [torch.bfloat16] * 4  # 2 sizes x (plain, flipped)
    assert result["sem_seg"].dtype == torch.float32 and result["sem_seg"].shape[1:] == (64, 80)
