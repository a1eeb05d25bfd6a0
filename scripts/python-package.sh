#!/usr/bin/env bash
# Builds the Python package `gradvol` (python/) into a virtual environment and runs its pytest
# suite: what `.ci/run` does after `cargo test`, and what a developer runs after changing it.
#
#   bash scripts/python-package.sh          # build, install, test
#   bash scripts/python-package.sh --build  # build and install only
#   bash scripts/python-package.sh --venv   # only make the environment (downloads)
#
# The environment is <repo>/target/py-venv (git-ignored), with numpy and the references the
# tests compare against (scipy, VTK, SimpleITK, nibabel, pyvista; Pillow reads the CLI's PNGs;
# npe2 checks the napari manifest; mypy the types). The extension is built in cargo's dev
# profile, the one `cargo test` uses, so wgpu and the other dependencies compiled for the tests
# are reused (`pip install ./python` alone builds an optimised release wheel from scratch).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/target/py-venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
wanted=(numpy scipy pytest vtk SimpleITK nibabel pyvista pillow npe2 mypy "maturin>=1.9,<2")
if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import numpy, scipy, pytest, vtk, SimpleITK, nibabel, pyvista, PIL, npe2, mypy, maturin" 2>/dev/null; }; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${wanted[@]}"
fi
[ "${1:-}" = "--venv" ] && exit 0
export PATH="$venv/bin:$PATH"
echo "== building the Python package (dev profile) into $venv"
# maturin's PEP 517 backend takes extra build arguments from this variable.
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/pip" install -q --no-build-isolation --force-reinstall --no-deps "$repo_root/python"
[ "${1:-}" = "--build" ] && exit 0
cd "$repo_root/python"
echo "== mypy: the package's types, and its stub against the compiled module"
"$venv/bin/python" -m mypy
"$venv/bin/python" -m mypy.stubtest gradvol._gradvol
echo "== pytest python/tests"
# pytest exits 5 when it collects no test: that is a failure here too.
"$venv/bin/python" -m pytest -q tests
