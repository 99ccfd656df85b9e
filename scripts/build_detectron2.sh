#!/usr/bin/env bash
# Builds detectron2 from source, compiled C++ ops included, into the virtual environment $1, the way
# detectron2's own install instructions do (torch first, then `pip install --no-build-isolation .`).
# $2: detectron2's source, a checkout folder or a `git archive` .tar.gz.
# Idempotent: a second run finds the compiled detectron2._C and returns.
set -euo pipefail

VENV="${1:?usage: build_detectron2.sh VENV SOURCE}"
SOURCE="${2:?usage: build_detectron2.sh VENV SOURCE}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1

[ -x "$PY" ] || python3 -m venv "$VENV"
# Absolute from here on: the build runs in another folder.
VENV="$(cd "$VENV" && pwd)"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)
if "$PY" -c "from detectron2 import _C; assert _C.__file__.endswith('.so')" 2>/dev/null; then
  echo "build_detectron2: compiled detectron2 already in $VENV"
  exit 0
fi
if [ ! -e "$SOURCE" ]; then
  echo "build_detectron2: no detectron2 source at $SOURCE (pass D2_SRC=<a detectron2 checkout or .tar.gz>)" >&2
  exit 2
fi

echo "build_detectron2: torch ${TORCH_VERSION}, then detectron2 from $SOURCE (a few minutes)"
"${PIP[@]}" "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" "setuptools<80" wheel ninja
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
if [ -d "$SOURCE" ]; then
  cp -r "$SOURCE" "$BUILD/detectron2"
else
  mkdir "$BUILD/detectron2"
  tar -xzf "$SOURCE" -C "$BUILD/detectron2" --strip-components=1
fi
(cd "$BUILD/detectron2" && MAX_JOBS="${MAX_JOBS:-2}" "${PIP[@]}" --no-build-isolation .)
"$PY" -c "import detectron2, numpy, PIL; from detectron2 import _C; print('build_detectron2: ok, detectron2', detectron2.__version__, 'numpy', numpy.__version__, 'Pillow', PIL.__version__)"
