#!/usr/bin/env bash
# A Python virtual environment with zarr-python, numcodecs and ome-zarr-py for the tests that
# check gradvol against the reference OME-Zarr implementations (tests/zarr.rs): they write
# stores gradvol must open and read the stores gradvol writes.
#
# The environment lands in <repo>/target/zarr-venv (git-ignored); re-running is cheap when it
# is complete. The tests find it there, or use the Python named by GRADVOL_PYTHON.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/target/zarr-venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import zarr, numcodecs, ome_zarr" 2>/dev/null; then
  echo "python test environment: $venv (ready)"
  exit 0
fi
rm -rf "$venv.partial"
python3 -m venv "$venv.partial"
"$venv.partial/bin/pip" install -q "zarr>=3,<4" numcodecs "ome-zarr>=0.11" numpy
rm -rf "$venv"
mv "$venv.partial" "$venv"
# A venv records its own path in its scripts; the interpreter itself still works after a move,
# and the tests call only the interpreter.
"$venv/bin/python" -c "import zarr, ome_zarr; print('python test environment:', zarr.__version__, 'zarr,', ome_zarr.__version__, 'ome-zarr')"
