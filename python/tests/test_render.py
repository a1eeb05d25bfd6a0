"""Headless renders: the same pixels as `gradvol render`, and a Renderer kept for many."""

import json
import subprocess

import numpy as np
import pytest

import gradvol as gv

SCENE = {
    "preset": "MR-Default",
    "camera": {"view": "left", "azimuth_deg": 20, "elevation_deg": 10},
    "render": {"size": [160, 128]},
}


def read_png_rgba(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"))


def within_golden_tolerance(a: np.ndarray, b: np.ndarray):
    """tests/golden.rs's limits: mean absolute difference under 1/255, and under 0.5% of
    pixels off by more than 16/255 in a channel."""
    assert a.shape == b.shape
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert diff.mean() < 1.0, diff.mean()
    assert (diff.max(axis=2) > 16).mean() < 0.005


def test_render_equals_the_cli_with_the_same_scene(tmp_path, ch2, gradvol_cli):
    scene_path = tmp_path / "scene.json"
    scene_path.write_text(json.dumps(SCENE))
    png = tmp_path / "cli.png"
    subprocess.run(
        [str(gradvol_cli), "render", str(ch2), "--scene", str(scene_path), "-o", str(png)],
        check=True,
        capture_output=True,
    )
    ours = gv.render(gv.load(ch2), scene=scene_path)
    assert ours.shape == (128, 160, 4) and ours.dtype == np.uint8
    assert ours[..., :3].max() > 50, "the render is empty"
    within_golden_tolerance(ours, read_png_rgba(png))


def test_a_renderer_keeps_the_volume_for_many_renders(ch2):
    renderer = gv.Renderer(gv.load(ch2), "MR-Default", size=96)
    assert "(" in renderer.adapter
    front = renderer.render(camera={"view": "anterior"})
    side = renderer.render(camera={"view": "left"})
    assert front.shape == side.shape == (96, 96, 4)
    assert np.abs(front.astype(int) - side.astype(int)).mean() > 1.0
    # The same view again is the same image; another transfer function changes it.
    np.testing.assert_array_equal(renderer.render(camera={"view": "anterior"}), front)
    bone = renderer.render(gv.TransferFunction.preset("MR-MIP"), camera={"view": "anterior"})
    assert np.abs(bone.astype(int) - front.astype(int)).mean() > 1.0


def test_a_plain_array_renders_with_its_spacing():
    z, y, x = np.mgrid[-1:1:48j, -1:1:48j, -1:1:48j]
    ball = (np.sqrt(x * x + y * y + z * z) < 0.6).astype(np.float32) * 100
    image = gv.render(ball, spacing=1.0, size=64, transparent=True)
    alpha = image[..., 3]
    assert alpha[32, 32] > 200 and alpha[0, 0] == 0


def test_bad_scenes_raise_value_error(ch2):
    volume = gv.load(ch2)
    with pytest.raises(ValueError, match="No-Such"):
        gv.render(volume, "No-Such-Preset", size=32)
    with pytest.raises(ValueError, match="unknown field"):
        gv.render(volume, size=32, no_such_setting=1)
    with pytest.raises(ValueError, match="device"):
        gv.render(volume, size=32, device="cpu")
