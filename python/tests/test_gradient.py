"""gradient_magnitude against VTK, scipy, the seed vector and the CLI; every memory layout."""

import json
import subprocess
import threading
import time

import numpy as np
import pytest
import scipy.ndimage as ndi

import gradvol as gv
from conftest import REPO


def vtk_gradient_magnitude(array_zyx: np.ndarray, spacing_zyx) -> np.ndarray:
    """vtkImageGradientMagnitude with spacing, on a float64 copy (VTK keeps the input's type)."""
    import vtk
    from vtk.util import numpy_support

    nz, ny, nx = array_zyx.shape
    image = vtk.vtkImageData()
    image.SetDimensions(nx, ny, nz)
    image.SetSpacing(spacing_zyx[2], spacing_zyx[1], spacing_zyx[0])
    flat = np.ascontiguousarray(array_zyx, dtype=np.float64).ravel()
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(flat, deep=True))
    magnitude = vtk.vtkImageGradientMagnitude()
    magnitude.SetInputData(image)
    magnitude.SetDimensionality(3)
    magnitude.HandleBoundariesOn()
    magnitude.Update()
    out = numpy_support.vtk_to_numpy(magnitude.GetOutput().GetPointData().GetScalars())
    return out.reshape(nz, ny, nx)


def assert_relative(got, expected, rtol=1e-5):
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    # Relative to each value; where VTK gives exactly 0 gradvol must too (to float32 rounding
    # of the largest value).
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-7 * expected.max())


def test_the_seed_vector_matches_vtk():
    seed = json.loads((REPO / "tests" / "data" / "seed_gradient_vector.json").read_text())
    nx, ny, nz = seed["dims_xyz"]
    image = np.asarray(seed["input_flat"], dtype=np.float64).reshape(nz, ny, nx)
    got = gv.gradient_magnitude(image, seed["spacing_xyz"][::-1])
    assert got.dtype == np.float32 and got.shape == image.shape
    assert abs(got.ravel()[0] - 1321.79801785) < 1e-3
    assert_relative(got.ravel(), seed["expected_magnitude"])


@pytest.mark.parametrize("name", ["lung1", "ch2"])
def test_central_equals_vtk_on_real_ct_and_mri(name, request):
    volume = gv.load(request.getfixturevalue(name))
    got = gv.gradient_magnitude(volume)
    expected = vtk_gradient_magnitude(volume.data, volume.spacing)
    assert_relative(got, expected)


def test_sobel_equals_scipy_over_32h(ch2):
    volume = gv.load(ch2)
    f = volume.data.astype(np.float64)
    parts = [ndi.sobel(f, axis=a) / (32.0 * h) for a, h in enumerate(volume.spacing)]
    expected = np.sqrt(sum(p * p for p in parts))
    got = gv.gradient_magnitude(volume, operator="sobel")
    assert_relative(got, expected)


def test_equals_the_cli_for_the_same_file(lung1, lung1_cli_gradient):
    from_cli = gv.load(lung1_cli_gradient[0])
    volume = gv.load(lung1)
    ours = gv.gradient_magnitude(volume)
    assert from_cli.data.dtype == np.float32
    np.testing.assert_array_equal(ours, from_cli.data)
    np.testing.assert_allclose(from_cli.affine, volume.affine)


def test_spacing_scales_the_result():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(9, 10, 11))
    one = gv.gradient_magnitude(f, 1.0)
    tenth = gv.gradient_magnitude(f, 0.1)
    np.testing.assert_allclose(tenth, 10 * one, rtol=1e-6)


def test_a_linear_ramp_has_its_slope_in_units_per_mm():
    z, y, x = np.meshgrid(np.arange(6), np.arange(7), np.arange(8), indexing="ij")
    f = 3.0 * x + 4.0 * y  # per voxel; with spacing (sz, sy, sx) = (1, 2, 0.5) mm
    g = gv.gradient_magnitude(f, (1.0, 2.0, 0.5))
    inner = g[1:-1, 1:-1, 1:-1]
    np.testing.assert_allclose(inner, np.hypot(3.0 / 0.5, 4.0 / 2.0), rtol=1e-6)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    return (rng.normal(100, 40, size=(20, 24, 28))).astype(np.int16)


SPACING = (2.5, 0.8, 0.6)


@pytest.mark.parametrize("operator,sigma", [("central", None), ("sobel", None), ("gaussian", 1.5)])
def test_every_layout_gives_the_same_numbers(small, operator, sigma, tmp_path):
    def grad(a, spacing=SPACING):
        return gv.gradient_magnitude(a, spacing, operator=operator, sigma_mm=sigma)

    reference = grad(small)
    assert reference.flags.c_contiguous

    # F order (and the transposed view below) is read with its first axis fastest, so the
    # three squared derivatives are summed in another order: equal to float32 rounding.
    fortran = np.asfortranarray(small)
    out = grad(fortran)
    assert out.flags.f_contiguous
    np.testing.assert_allclose(out, reference, rtol=3e-7)

    strided = small[::2]
    np.testing.assert_array_equal(grad(strided), grad(np.ascontiguousarray(strided)))

    flipped = small[..., ::-1]
    np.testing.assert_array_equal(grad(flipped), grad(np.ascontiguousarray(flipped)))

    transposed = small.transpose(2, 1, 0)  # F-contiguous (x, y, z) view
    np.testing.assert_allclose(grad(transposed, SPACING[::-1]), reference.transpose(2, 1, 0), rtol=3e-7)

    path = tmp_path / "voxels.raw"
    small.tofile(path)
    memmap = np.memmap(path, dtype=np.int16, mode="r", shape=small.shape)
    np.testing.assert_array_equal(grad(memmap), reference)

    readonly = small.copy()
    readonly.setflags(write=False)
    np.testing.assert_array_equal(grad(readonly), reference)

    big_endian = small.astype(">i2")
    np.testing.assert_array_equal(grad(big_endian), reference)

    as_float = small.astype(np.float64)
    np.testing.assert_allclose(grad(as_float), reference, rtol=1e-6)


def test_uint8_does_not_wrap_around():
    f = np.zeros((5, 5, 5), dtype=np.uint8)
    f[:, :, 3:] = 250
    g = gv.gradient_magnitude(f, 1.0)
    np.testing.assert_allclose(g, gv.gradient_magnitude(f.astype(np.float32), 1.0))
    assert g.max() == pytest.approx(125.0)


def test_other_dtypes_are_converted():
    f = np.arange(4 * 5 * 6).reshape(4, 5, 6) % 100
    expected = gv.gradient_magnitude(f.astype(np.float64))
    for dtype in (np.int64, np.uint64, np.float16, np.int32, np.uint16, np.int8, np.uint32, bool):
        values = f.astype(dtype)
        np.testing.assert_allclose(
            gv.gradient_magnitude(values),
            gv.gradient_magnitude(values.astype(np.float64)),
            rtol=1e-6,
            err_msg=str(dtype),
        )
    np.testing.assert_allclose(gv.gradient_magnitude(f), expected)


def test_the_gpu_pass_agrees_with_the_cpu(small):
    cpu = gv.gradient_magnitude(small, SPACING, device="cpu")
    gpu = gv.gradient_magnitude(small, SPACING, device="gpu")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4 * cpu.max())
    auto = gv.gradient_magnitude(small, SPACING, device="auto")
    np.testing.assert_allclose(auto, cpu, rtol=1e-4, atol=1e-4 * cpu.max())


def test_the_gil_is_released_during_a_call():
    f = np.random.default_rng(3).normal(size=(112, 112, 112)).astype(np.float32)
    done = threading.Event()
    spins = 0

    def work():
        for _ in range(2):
            gv.gradient_magnitude(f, 1.0, operator="gaussian", sigma_mm=1.5)
        done.set()

    thread = threading.Thread(target=work)
    start = time.perf_counter()
    thread.start()
    while not done.is_set():
        spins += 1
    thread.join()
    elapsed = time.perf_counter() - start
    # With the GIL held for the whole call, this loop would only run in the gaps between calls.
    assert elapsed > 0.05
    assert spins > 10_000, f"the main thread ran {spins} iterations in {elapsed:.2f} s"


def test_eight_threads_at_once_all_succeed(small):
    from concurrent.futures import ThreadPoolExecutor

    expected = gv.gradient_magnitude(small, SPACING)
    devices = ["cpu", "gpu"] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda d: gv.gradient_magnitude(small, SPACING, device=d), devices))
    for device, result in zip(devices, results):
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4 * expected.max(), err_msg=device)


FORK_SCRIPT = r"""
import os, sys, numpy as np, gradvol as gv
f = np.random.default_rng(0).normal(size=(8, 9, 10)).astype(np.float32)
gv.gradient_magnitude(f, 1.0, device="gpu")
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    try:
        gv.gradient_magnitude(f, 1.0, device="gpu")
        message = "no error"
    except RuntimeError as e:
        message = "RuntimeError: " + str(e)
    cpu = gv.gradient_magnitude(f, 1.0, device="cpu")
    ok = np.allclose(cpu, gv.gradient_magnitude(f.astype(np.float64), 1.0))
    os.write(write, (message + "\ncpu ok: " + str(ok)).encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
print(os.read(read, 4096).decode())
"""


def test_a_forked_child_gets_a_clear_error_from_the_gpu():
    import sys

    run = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "RuntimeError" in run.stdout and "fork" in run.stdout, run.stdout
    assert "cpu ok: True" in run.stdout


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: gv.gradient_magnitude(np.zeros((4, 4))), "3-D"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4)), (1.0, 1.0)), "3 values"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4)), (1.0, float("nan"), 1.0)), "positive and finite"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4)), -1.0), "positive and finite"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4)), operator="laplace"), "unknown operator"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4)), operator="gaussian"), "sigma_mm"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4)), device="tpu"), "unknown device"),
        (lambda: gv.gradient_magnitude(np.zeros((4, 4, 4), dtype=complex)), "real numbers"),
        (lambda: gv.gradient_magnitude(np.zeros((0, 4, 4))), "empty"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
