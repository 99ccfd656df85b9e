"""The TorchScript export runs from ``torch.jit.load`` alone and matches the eager model."""
import os
import subprocess
import sys

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from panfpn_d2.deploy.graph import PanFPNExportGraph

from tests.support.export import export

# Loads and runs the export with torch and torchvision (whose operators it calls) only.
RUN_SAVED_MODULE = """
import sys, torch, torchvision
module = torch.jit.load(sys.argv[1])
inputs = torch.load(sys.argv[2])
torch.save([list(module(image)) for image in inputs], sys.argv[3])
"""


def test_torchscript_export_runs_without_model_code_and_matches_eager(trained_toy, tmp_path, blocked_imports):
    cfg, _ = trained_toy
    model_dir = export(cfg, "torchscript", tmp_path / "ts")
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.rand(3, h, w, generator=generator) * 255 for h, w in [(128, 128), (96, 176)]]
    torch.save(inputs, tmp_path / "inputs.pt")
    env = dict(os.environ, PYTHONPATH=blocked_imports("detectron2", "panfpn_d2", "panfpn_lite"))
    subprocess.run(
        [sys.executable, "-c", RUN_SAVED_MODULE, str(model_dir / "model.ts"), str(tmp_path / "inputs.pt"),
         str(tmp_path / "outputs.pt")],
        check=True, env=env, cwd=tmp_path,
    )
    outputs = torch.load(tmp_path / "outputs.pt")

    model = build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    graph = PanFPNExportGraph(model.eval())
    for image, actual in zip(inputs, outputs):
        with torch.no_grad():
            expected = graph(image)
            eager_instances = model.inference([{"image": image}], do_postprocess=False)[0][0]
        assert len(eager_instances) > 0, "no instance to compare"
        # The graph's instances are the eager model's.
        torch.testing.assert_close(expected[0], eager_instances.pred_boxes.tensor, atol=0, rtol=0)
        torch.testing.assert_close(expected[2], eager_instances.pred_classes, atol=0, rtol=0)
        for name, a, e in zip(("boxes", "scores", "classes", "mask_probs", "semantic_logits"), actual, expected):
            assert a.shape == e.shape, name
            torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4, msg=name)
