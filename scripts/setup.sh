#!/usr/bin/env bash
# Installs panfpn_d2 and what it needs into the Python interpreter given as $1
# (default: python3). Idempotent: a second run checks and returns quickly.
#
# Two routes:
#  * detectron2 already importable (a real user who built it from source):
#    torch and detectron2 are left untouched; only the plugin's own extra
#    dependencies and the plugin itself are installed.
#  * no detectron2 (a fresh CPU machine with only package registries): torch,
#    torchvision and detectron2 v0.6 from the registry sdist `pb1-detectron2`,
#    installed without its C++/CUDA ops, plus a pure-Python `detectron2._C`
#    fallback (see scripts/detectron2_c_fallback.py).
set -euo pipefail

PY="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
PANOPTICAPI_VERSION=0.2.0
CITYSCAPES_VERSION=2.3.0

if "$PY" - "$ROOT" <<'PYCHECK' 2>/dev/null; then
import importlib.metadata as md, importlib.util, sys, pathlib
# found, not imported: importing torch and detectron2 here would add seconds to every `make toy`
names = ("detectron2", "torch", "hotcoco", "panopticapi", "cityscapesscripts", "cv2", "onnx", "onnxruntime", "openvino", "ml_dtypes", "matplotlib", "pytest", "panfpn_d2")
specs = {name: importlib.util.find_spec(name) for name in names}
assert all(specs.values())
assert md.version("hotcoco") == "1.3.0"
# the editable install must point at this checkout
assert pathlib.Path(specs["panfpn_d2"].origin).resolve().parent.parent == pathlib.Path(sys.argv[1]).resolve()
# and installed this checkout's console scripts
assert {"panfpn-pq", "panfpn-predict", "panfpn-data"} <= {e.name for e in md.distribution("panfpn_d2").entry_points}
assert all((pathlib.Path(sys.executable).parent / name).exists() for name in ("panfpn-pq", "panfpn-predict", "panfpn-data"))
PYCHECK
  echo "setup: already done for $("$PY" -c 'import sys; print(sys.executable)')"
  exit 0
fi

if "$PY" -c "import detectron2" 2>/dev/null; then
  echo "setup: found detectron2 $("$PY" -c 'import detectron2; print(detectron2.__version__)'), leaving torch, detectron2, numpy and Pillow as they are"
  CONSTRAINTS="$(mktemp)"
  "$PY" - >"$CONSTRAINTS" <<'PYPINS'
import importlib.metadata as md
for name in ("torch", "torchvision", "numpy", "Pillow"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        pass
PYPINS
else
  echo "setup: installing torch ${TORCH_VERSION} and detectron2 v0.6 (registry sdist pb1-detectron2, no C++ ops)"
  # detectron2 v0.6 uses np.bool/np.int/np.float (removed in numpy 1.24),
  # Image.LINEAR (removed in Pillow 10) and pkg_resources (gone in setuptools 80).
  CONSTRAINTS="$(mktemp)"
  printf '%s\n' "numpy<1.24" "Pillow<10" "setuptools<80" "fvcore==0.1.5.post20221221" "iopath>=0.1.7,<0.1.10" \
    "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" "opencv-python-headless<4.11" >"$CONSTRAINTS"
  "${PIP[@]}" -c "$CONSTRAINTS" "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
    numpy Pillow setuptools wheel fvcore iopath pycocotools opencv-python-headless matplotlib \
    termcolor yacs tabulate cloudpickle "tqdm>4.29.0" tensorboard "omegaconf>=2.1" "hydra-core>=1.1"
  SRC="$(mktemp -d)"
  "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: --no-build-isolation \
    pb1-detectron2==0.6 -d "$SRC"
  tar -xzf "$SRC"/pb1-detectron2-0.6.tar.gz -C "$SRC"
  D2="$SRC/pb1-detectron2-0.6"
  # The sdist has no C++ sources (detectron2/layers/csrc): build no extension,
  # and ship the pure-Python fallback as detectron2/_C.py instead.
  "$PY" - "$D2/setup.py" <<'PYPATCH'
import sys, pathlib
p = pathlib.Path(sys.argv[1])
src = p.read_text()
assert "ext_modules=get_extensions()," in src, "unexpected pb1-detectron2 setup.py"
p.write_text(src.replace("ext_modules=get_extensions(),", "ext_modules=[],"))
PYPATCH
  cp "$ROOT/scripts/detectron2_c_fallback.py" "$D2/detectron2/_C.py"
  "${PIP[@]}" -c "$CONSTRAINTS" --no-deps --no-build-isolation "$D2"
  rm -rf "$SRC"
fi

# The plugin with what it declares (setup.py): on the source route pip adds only what is
# missing and leaves the user's numpy, Pillow, torch and detectron2 as they are; on the registry
# route the constraints keep detectron2 v0.6's pins.
EXTRAS=test,runtime,export,openvino,report,quantize
"$PY" -c "import cv2" 2>/dev/null || EXTRAS="$EXTRAS,demo"  # any opencv build the user has will do
echo "setup: installing panfpn_d2[$EXTRAS], panopticapi and cityscapesscripts"
"${PIP[@]}" ${CONSTRAINTS:+-c "$CONSTRAINTS"} --no-build-isolation -e "$ROOT[$EXTRAS]"
# The references the tests compare with. Their metadata pins what their code does not need
# (panopticapi-lite: Pillow>=10.4, numpy<2; cityscapesscripts: the `typing` backport).
"${PIP[@]}" --no-deps "panopticapi-lite==${PANOPTICAPI_VERSION}" "cityscapesscripts==${CITYSCAPES_VERSION}"
"${PIP[@]}" ${CONSTRAINTS:+-c "$CONSTRAINTS"} matplotlib appdirs pyquaternion coloredlogs requests
[ -n "${CONSTRAINTS:-}" ] && rm -f "$CONSTRAINTS"
"$PY" -c "import panfpn_d2, detectron2, torch; print('setup: ok, torch', torch.__version__, 'detectron2', detectron2.__version__)"
