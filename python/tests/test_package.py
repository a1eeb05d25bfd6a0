"""The package as a user meets it: import cost, no window system, typed API."""

import subprocess
import sys
import time

import gradvol as gv

IMPORT_CHECK = r"""
import time
start = time.perf_counter()
import gradvol
elapsed = time.perf_counter() - start
import numpy as np
gradvol.gradient_magnitude(np.zeros((4, 4, 4), np.uint8))
maps = open("/proc/self/maps").read()
window = [name for name in ("libX11", "libxcb", "libwayland", "libGL", "libEGL", "libvulkan") if name in maps]
print(elapsed, ",".join(window) or "none")
"""


def test_import_is_fast_and_loads_no_window_system():
    times = []
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, check=True)
        elapsed, window = run.stdout.split()
        times.append(float(elapsed))
        assert window == "none", f"import gradvol mapped {window}"
    assert min(times) < 1.0, times


def test_the_public_api_is_exported_and_documented():
    for name in gv.__all__:
        item = getattr(gv, name)
        if callable(item):
            assert item.__doc__, f"{name} has no docstring"
    assert gv.__version__


def test_the_stub_names_every_native_function():
    import pathlib

    from gradvol import _gradvol

    stub = (pathlib.Path(gv.__file__).parent / "_gradvol.pyi").read_text()
    for name in dir(_gradvol):
        if not name.startswith("_"):
            assert f"def {name}(" in stub or f"class {name}" in stub, name
