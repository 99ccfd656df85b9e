"""A plain ``pip install`` (install_requires only): with neither opencv nor cityscapesscripts
importable, ``import panfpn_d2`` works, every shipped config builds its model, the toy trains and
evaluates, and what needs an extra says which one."""
import os
import subprocess

from panfpn_d2.data.toy import generate_toy_dataset
from tests.support.blocked_imports import command
from tests.support.paths import REPO_ROOT, TOY_CONFIG

EXTRAS_MODULES = ("cv2", "cityscapesscripts")

# Run with EXTRAS_MODULES blocked: every config of configs/ builds (the YAMLs with the tiny model
# and their datasets' metadata, the .py ones as they are) and the extras' absence surfaces only where they are used.
BUILD_EVERY_CONFIG = """
import sys
import panfpn_d2
from detectron2.config import instantiate
from detectron2.modeling import build_model
from panfpn_d2 import model_zoo
from panfpn_d2.config import load_config
from panfpn_d2.evaluation.cityscapes_evaluation import PanFPNCityscapesSemSegEvaluator
from tests.support.configs import TINY_MODEL_OPTS, command_line_opts

assert not [m for m in sys.modules if m.split(".")[0] in ("cv2", "cityscapesscripts")]
root = model_zoo.configs_root()
names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in (".yaml", ".py"))
built = []
for name in names:
    if name.endswith(".py"):
        if name.startswith("common/"):
            continue  # the base the others import
        instantiate(model_zoo.get_config(name).model)
    else:
        build_model(load_config(model_zoo.get_config_file(name), command_line_opts(TINY_MODEL_OPTS)))
    built.append(name)
for what, call in [("cityscapes", lambda: PanFPNCityscapesSemSegEvaluator("panfpn_cityscapes_fine_panoptic_val")),
                   ("demo", lambda: __import__("panfpn_d2.tools.demo"))]:
    try:
        call()
        raise AssertionError(what + " worked without its extra")
    except ImportError as e:
        assert "pip install 'panfpn_d2[" + what + "]'" in str(e), e
print("BUILT", len(built))
"""


def run_blocked(cwd, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PANFPN_TOY_ROOT=str(cwd / "toy"), OMP_NUM_THREADS="2")
    proc = subprocess.run(command(EXTRAS_MODULES, *args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_the_blocker_makes_the_extras_missing(tmp_path):
    checks = "".join(
        f"""
try:
    import {module}
    raise AssertionError("{module} imported")
except ModuleNotFoundError as e:
    assert e.name == "{module}"
""" for module in EXTRAS_MODULES)
    run_blocked(tmp_path, "-c", checks)


def test_import_and_every_shipped_config_build_without_extras(tmp_path):
    log = run_blocked(tmp_path, "-c", BUILD_EVERY_CONFIG)
    shipped = [p for p in (REPO_ROOT / "configs").rglob("*") if p.suffix in (".yaml", ".py") and p.parent.name != "common"]
    assert f"BUILT {len(shipped)}" in log


def test_toy_trains_and_evaluates_without_extras(tmp_path):
    """With the colour augmentation on (its HSV part needed opencv before)."""
    generate_toy_dataset(tmp_path / "toy", num_train=4, num_val=2, size=64)
    log = run_blocked(
        tmp_path, "-m", "panfpn_d2.tools.train_net", "--config-file", str(TOY_CONFIG),
        "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(1,)",
        "DATALOADER.NUM_WORKERS", "0", "INPUT.COLOR_AUG", "True",
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64",
        "OUTPUT_DIR", str(tmp_path / "out"),
    )
    assert (tmp_path / "out" / "model_final.pth").is_file()
    assert "copypaste: PQ,SQ,RQ,PQ_th" in log and "copypaste: mIoU,fwIoU" in log
