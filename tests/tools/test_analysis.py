"""The compute analysis on a tiny model and small images."""
import pytest
import torch
from detectron2.modeling import build_model
from fvcore.nn import parameter_count

from tests.support.configs import tiny_cfg
from tests.support.paths import TOY_CONFIG
from panfpn_d2.tools import analysis
from panfpn_d2.tools.random_weights import make_random_model_detect

COMPONENTS = ["backbone (bottom-up)", "FPN", "RPN", "ROI heads", "semantic branch"]


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return make_random_model_detect(build_model(tiny_cfg("COCO-PanopticSegmentation/panfpn_R_50_1x.yaml")).eval())


def test_every_component_is_counted(tiny_model):
    components = analysis.component_counts(tiny_model, torch.rand(3, 64, 96) * 255)
    assert list(components) == COMPONENTS + ["total"]
    for name in COMPONENTS:
        counts = components[name]
        assert counts.flops > 0 and counts.params > 0 and counts.activations > 0, name
    params = parameter_count(tiny_model)
    assert components["FPN"].params == params["backbone"] - params["backbone.bottom_up"]
    assert components["total"].params == params[""] == sum(components[n].params for n in COMPONENTS)
    assert components["total"].flops >= sum(components[n].flops for n in COMPONENTS)

    overhead = analysis.semantic_overhead(components)
    semantic, total = components["semantic branch"], components["total"]
    assert overhead.flops == pytest.approx(100 * semantic.flops / (total.flops - semantic.flops))
    assert overhead.params == pytest.approx(100 * semantic.params / (total.params - semantic.params))


def test_report_from_the_command_line(capsys):
    report = analysis.main([
        "--config-file", str(TOY_CONFIG),
        "--height", "64", "--width", "96", "--no-fig4",
    ])
    assert report in capsys.readouterr().out
    for name in COMPONENTS + ["total"]:
        row = next(line for line in report.splitlines() if line.startswith(f"| {name} "))
        assert all(float(cell) > 0 for cell in row.strip("|").split("|")[1:]), row
    assert "panoptic merge:" in report and "100 instances in" in report
    assert "Semantic branch overhead over Mask R-CNN (Table 1a): FLOPs +" in report


def test_weights_are_never_loaded(capsys):
    """A compute count needs no weights: a config naming unreachable ones (as the COCO configs name
    ImageNet's, which would be downloaded) gives the counts of the random model, offline."""
    arguments = ["--config-file", str(TOY_CONFIG), "--height", "64", "--width", "96", "--no-fig4"]
    unreachable = "/nonexistent/ImageNetPretrained/R-50.pkl"
    with_weights = analysis.main([*arguments, "--opts", "MODEL.WEIGHTS", unreachable])
    without = analysis.main([*arguments, "--opts", "MODEL.WEIGHTS", ""])

    def table(report):
        return [line for line in report.splitlines() if line.startswith("|")]

    assert table(with_weights) == table(without) and len(table(without)) == 8
    assert "100 instances in" in with_weights


def fig4_cfg():
    return tiny_cfg(
        "Base-PanFPN.yaml",
        "MODEL.RESNETS.NORM", "FrozenBN",
        "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
        "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
        "MODEL.RESNETS.WIDTH_PER_GROUP", 8,
    )


def test_fig4_networks_output_at_their_stride():
    image = torch.rand(1, 3, 64, 128)
    for name, (network, stride) in analysis.fig4_networks(fig4_cfg(), 50).items():
        with torch.no_grad():
            logits = network.eval()(image)
        assert logits.shape == (1, 54, 64 // stride, 128 // stride), name


def test_fig4_counts_scale_exactly_and_rank_as_in_the_paper():
    results = analysis.fig4_counts(fig4_cfg(), 50, 64, 128, downscale=2)
    network, _ = analysis.fig4_networks(fig4_cfg(), 50)["dilated-16 + simple head"]
    with torch.no_grad():
        full_size = analysis.count(network.eval(), (torch.rand(1, 3, 64, 128),))[""]
    assert results["dilated-16 + simple head"][0] == full_size
    flops = {name: counts.flops for name, (counts, _) in results.items()}
    assert flops["dilated-8 + simple head"] > 1.5 * flops["FPN + semantic branch"]
    assert flops["dilated-8 + simple head"] > 1.5 * flops["dilated-16 + simple head"]
    with pytest.raises(ValueError, match=r"96x256: .* multiples of 32 x --fig4-count-downscale \(64\)"):
        analysis.fig4_counts(fig4_cfg(), 50, 96, 256, downscale=2)


def test_fig4_report_flags_the_symmetric_decoder_against_the_papers_2x():
    results = analysis.fig4_counts(fig4_cfg(), 50, 64, 128, downscale=2)
    ratio = results[analysis.SYMMETRIC][0].flops / results["FPN + semantic branch"][0].flops
    report = analysis.fig4_report(results, 50, 64, 128, 2)
    assert report.splitlines()[-1] == analysis.SYMMETRIC_NOTE.format(ratio=ratio)
    assert "about 2x the FLOPs of FPN" in report and f"gives {ratio:.2f}x" in report
