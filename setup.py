from setuptools import find_packages, setup

setup(
    name="panfpn_d2",
    version="0.1.0",
    description="Panoptic Feature Pyramid Networks (Kirillov et al., CVPR 2019) as a detectron2 plugin",
    packages=find_packages(include=["panfpn_d2", "panfpn_d2.*", "panfpn_lite", "panfpn_lite.*"]),
    python_requires=">=3.8",
    # torch and detectron2 are not listed: users bring their own builds
    # (scripts/setup.sh installs them on a fresh machine).
    install_requires=["hotcoco==1.3.0", "pycocotools", "fvcore", "numpy", "Pillow"],
    extras_require={
        # panfpn-predict alone: `pip install --no-deps .` then these and numpy, Pillow (docs/deployment.md).
        "runtime": ["onnxruntime>=1.17"],
        # onnx 1.17 is the last release that imports with numpy 1.x and 2.x alike.
        "export": ["onnx>=1.16,<1.18"],
    },
    entry_points={"console_scripts": ["panfpn-predict=panfpn_lite.runtime.predict:main"]},
)
