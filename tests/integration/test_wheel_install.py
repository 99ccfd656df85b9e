"""The wheel route: the wheel built from this clone holds every config of configs/, and installed
with ``--no-deps`` into a fresh virtual environment beside an existing torch and detectron2, it
trains the toy from a folder outside the clone with a shipped config's name."""
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from panfpn_d2.data.toy import generate_toy_dataset
from tests.support.paths import CONFIGS, REPO_ROOT


def site_packages_on_path():
    """The site-packages folders this interpreter imports from: its own and those it overlays."""
    return [path for path in sys.path if Path(path).name in ("site-packages", "dist-packages")]


def run(cmd, cwd, **env):
    proc = subprocess.run(cmd, cwd=cwd, env=dict(os.environ, **env), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO_ROOT)],
        cwd=out)
    (built,) = out.glob("panfpn_d2-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(python of a fresh venv with the wheel installed, a folder outside the clone)."""
    root = tmp_path_factory.mktemp("wheel_venv")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).strip()
    # Plain folders, not site dirs: their .pth files (this clone's editable install) stay out.
    (Path(purelib) / "zz_existing_packages.pth").write_text("\n".join(site_packages_on_path()) + "\n")
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)], cwd=root)
    return python, root


def test_wheel_holds_every_config(wheel):
    packaged = {
        name[len("panfpn_d2/model_zoo/configs/"):]
        for name in zipfile.ZipFile(wheel).namelist()
        if name.startswith("panfpn_d2/model_zoo/configs/")
    }
    in_clone = {str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert packaged == in_clone and "COCO-PanopticSegmentation/panfpn_R_50_1x.yaml" in packaged


def test_installed_package_finds_its_configs(installed):
    python, root = installed
    log = run([str(python), "-c", """
import panfpn_d2
from panfpn_d2 import model_zoo
print("PACKAGE", panfpn_d2.__file__)
print("CONFIGS", model_zoo.configs_root())
cfg = model_zoo.get_config("COCO-PanopticSegmentation/panfpn_R_50_1x.yaml")
assert cfg.MODEL.META_ARCHITECTURE == "PanFPN" and cfg.SOLVER.MAX_ITER == 90000
lazy = model_zoo.get_config("COCO-PanopticSegmentation/panfpn_R_50_1x.py")  # imports ../common/panfpn.py
assert lazy.train.max_iter == 90000
from panfpn_d2.modeling.two_networks import resolve_config_path
x2 = model_zoo.get_config("COCO-PanopticSegmentation/panfpn_x2_R_50_1x.yaml").MODEL.PANFPN.TWO_NETWORKS
for key in ("INSTANCE_CONFIG", "SEMANTIC_CONFIG"):  # named relative to configs/: found in the wheel's copy
    print("X2", resolve_config_path(x2[key], key))
"""], cwd=root)
    site_dir = str(python.parent.parent)
    assert f"PACKAGE {site_dir}" in log and f"CONFIGS {site_dir}" in log, log
    assert log.count(f"X2 {site_dir}") == 2, log


def test_toy_trains_outside_the_clone_with_a_config_name(installed):
    python, root = installed
    generate_toy_dataset(root / "toy", num_train=2, num_val=1, size=64)
    log = run(
        [str(python), "-m", "panfpn_d2.tools.train_net", "--config-file", "Toy-PanopticSegmentation/panfpn_toy.yaml",
         "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(1,)",
         "DATALOADER.NUM_WORKERS", "0", "DATASETS.TEST", "()",
         "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "OUTPUT_DIR", "out"],
        cwd=root, PANFPN_TOY_ROOT=str(root / "toy"), OMP_NUM_THREADS="2", PYTHONPATH="",
    )
    assert "Starting training from iteration 0" in log
    assert (root / "out" / "model_final.pth").is_file()
