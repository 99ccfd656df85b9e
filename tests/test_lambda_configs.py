"""The lambda family (configs/*/lambda_sweep, configs/*/lambda_joint_grid) is what
scripts/generate_lambda_configs.py writes, so no cell can drift from the others by hand."""
import importlib.util
import shutil

from tests.support.paths import CONFIGS, REPO_ROOT
from tests.test_config import load


def load_generator():
    script = REPO_ROOT / "scripts" / "generate_lambda_configs.py"
    spec = importlib.util.spec_from_file_location("generate_lambda_configs", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def test_checked_in_lambda_configs_are_the_generators_output():
    assert generator.stale_files() == {}
    assert generator.main(["--check"]) == 0
    assert len(generator.lambda_family()) == 36


def test_an_edited_missing_or_extra_cell_is_reported(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    grid = configs / "COCO-PanopticSegmentation" / "lambda_joint_grid"
    edited = grid / "li05_ls05.yaml"
    edited.write_text(edited.read_text().replace("LOSS_WEIGHT: 0.5", "LOSS_WEIGHT: 0.6"))
    (grid / "li10_ls10.yaml").unlink()
    (configs / "Cityscapes-PanopticSegmentation" / "lambda_sweep" / "li02_ls10.yaml").write_text("")
    assert generator.stale_files(configs) == {
        "COCO-PanopticSegmentation/lambda_joint_grid/li05_ls05.yaml": "differs",
        "COCO-PanopticSegmentation/lambda_joint_grid/li10_ls10.yaml": "missing",
        "Cityscapes-PanopticSegmentation/lambda_sweep/li02_ls10.yaml": "not generated",
    }


def test_every_cell_is_its_base_config_with_only_the_two_lambdas_changed():
    for path in generator.lambda_family():
        dataset = path.parts[0]
        base_name, (base_li, base_ls) = generator.DATASETS[dataset][:2]
        cfg = load(str(path))
        base = load(f"{dataset}/{base_name}")
        assert (base.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT, base.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT) == (base_li, base_ls)
        changed = base.clone()
        changed.defrost()
        changed.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT = cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT
        changed.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT = cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT
        changed.freeze()
        assert cfg == changed, path
        lambdas = cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT, cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT
        assert path.name == generator.cell_name(*lambdas)
