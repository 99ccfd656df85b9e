import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# The repository's configs/ (the one source) ship as panfpn_d2/model_zoo/configs.
CONFIGS = Path(__file__).resolve().parent / "configs"
PACKAGED_CONFIGS = Path("panfpn_d2", "model_zoo", "configs")


class BuildWithConfigs(build_py):
    """build_py, then every file under configs/ copied into the built package (an editable
    install reads configs/ in place, see panfpn_d2.model_zoo)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / PACKAGED_CONFIGS
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(CONFIGS, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(
    name="panfpn_d2",
    version="0.1.0",
    description="Panoptic Feature Pyramid Networks (Kirillov et al., CVPR 2019) as a detectron2 plugin",
    packages=find_packages(include=["panfpn_d2", "panfpn_d2.*", "panfpn_lite", "panfpn_lite.*"]),
    cmdclass={"build_py": BuildWithConfigs},
    entry_points={
        "console_scripts": [
            "panfpn-pq=panfpn_lite.pq:main",
            "panfpn-predict=panfpn_lite.runtime.predict:main",
            "panfpn-data=panfpn_lite.data_tools.cli:main",
        ]
    },
    python_requires=">=3.8",
    # torch and detectron2 are not listed: users bring their own builds (docs/install.md;
    # scripts/setup.sh installs them on a machine that has neither).
    install_requires=[
        "numpy",
        "Pillow",
        "hotcoco==1.3.0",
        "pycocotools",
        "fvcore",
        "iopath",
        "tabulate",
        "tqdm",
    ],
    extras_require={
        # panfpn_d2.tools.demo (video and webcam input, drawing)
        "demo": ["opencv-python-headless"],
        # Cityscapes' own metrics (panfpn_d2.evaluation.cityscapes_evaluation) and its category list
        "cityscapes": ["cityscapesscripts>=2.2"],
        # panfpn-predict alone: `pip install --no-deps .` then these and numpy, Pillow (docs/deployment.md).
        # 1.19 is the first built for numpy 2; 1.32 checked with numpy 1.23.5 and 2.4.6.
        "runtime": ["onnxruntime>=1.19"],
        # panfpn-predict on video files (panfpn_lite.runtime.inputs.VideoFrames)
        "video": ["opencv-python-headless"],
        # panfpn-predict --backend openvino. 2026.4 requires numpy>=1.16.6,<2.6 (both routes' numpy);
        # checked with numpy 1.23.5 and 2.4.6.
        "openvino": ["openvino>=2026.4,<2027"],
        # torch.onnx.export imports onnx. 1.17 checked with numpy 1.23.5 and 2.4.6; 1.23 (through
        # ml_dtypes 0.6) fails to import with numpy 1.23.
        "export": ["onnx>=1.17,<1.18"],
        # panfpn-pq --report and TEST.PQ_REPORT (panfpn_lite.pq_report): its plots. 3.7 for
        # constrained layout's "outside" legends; checked with 3.10.9 on numpy 1.23.5.
        "report": ["matplotlib>=3.7"],
        # export --quantize int8 (onnxruntime.quantization, which imports ml_dtypes). ml_dtypes 0.5.4
        # checked with numpy 1.23.5; 0.5 is built for numpy 2 too, 0.6 drops numpy 1.23.
        "quantize": ["onnx>=1.17,<1.18", "onnxruntime>=1.19", "ml_dtypes>=0.5,<0.6"],
        "test": ["pytest>=7.3"],
    },
)
