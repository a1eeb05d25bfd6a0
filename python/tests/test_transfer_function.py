"""Presets, JSON, suggestions in Slicer's units, and VTK volume properties."""

import json
import subprocess

import numpy as np
import pytest

import gradvol as gv


def test_presets_are_listed_and_unknown_names_raise():
    names = gv.TransferFunction.presets()
    assert "CT-Bone" in names and "MR-Default" in names and len(names) >= 31
    with pytest.raises(ValueError, match="No-Such-Preset"):
        gv.TransferFunction.preset("No-Such-Preset")


def test_slicer_gradient_opacity_is_converted_by_the_mean_spacing():
    tf1 = gv.TransferFunction.preset("uCT-Skull", 1.0)
    tf2 = gv.TransferFunction.preset("uCT-Skull", (0.5, 0.5, 2.0))
    np.testing.assert_allclose(tf2.gradient_opacity[:, 0], tf1.gradient_opacity[:, 0])
    tf3 = gv.TransferFunction.preset("uCT-Skull", 2.0)
    np.testing.assert_allclose(tf3.gradient_opacity[:, 0], tf1.gradient_opacity[:, 0] / 2.0)


def test_json_round_trip_and_atomic_save(tmp_path):
    tf = gv.TransferFunction.preset("CT-Bone")
    path = tmp_path / "tf.json"
    tf.save(path)
    assert gv.TransferFunction.load(path) == tf
    assert [p.name for p in tmp_path.iterdir()] == ["tf.json"]
    with pytest.raises(ValueError, match="invalid transfer function"):
        gv.TransferFunction({"scalar_opacity": [[0, 0]], "color": "red"})


def test_the_cli_renders_with_a_tf_saved_from_python(tmp_path, ch2, gradvol_cli):
    from test_render import read_png_rgba, within_golden_tolerance

    tf = gv.TransferFunction.preset("MR-Default").with_gradient_opacity([[0, 0.2], [30, 1]])
    tf.save(tmp_path / "tf.json")
    assert json.loads((tmp_path / "tf.json").read_text())["gradient_opacity"] == [[0, 0.2], [30, 1]]
    png = tmp_path / "cli.png"
    subprocess.run(
        [str(gradvol_cli), "render", str(ch2), "--tf", str(tmp_path / "tf.json"), "--size", "64x48", "-o", str(png)],
        capture_output=True,
        check=True,
    )
    ours = gv.render(gv.load(ch2), tf, size=(64, 48))
    within_golden_tolerance(ours, read_png_rgba(png))
    # Gradient opacity changes the picture: without it the same preset renders differently.
    plain = gv.render(gv.load(ch2), "MR-Default", size=(64, 48))
    assert np.abs(plain.astype(int) - ours.astype(int)).mean() > 0.5


def test_suggestion_in_slicer_units_is_mm_times_mean_spacing():
    rng = np.random.default_rng(5)
    f = ndi_smooth(rng.normal(size=(24, 40, 40)))
    spacing = (5.0, 0.6, 0.6)  # thick CT slices
    mm = gv.suggest_gradient_opacity(f, spacing, units="mm")
    slicer = gv.suggest_gradient_opacity(f, spacing, units="slicer")
    assert mm.shape[1] == 2 and len(mm) >= 2 and mm[-1, 0] > mm[0, 0]
    np.testing.assert_allclose(slicer[:, 0], mm[:, 0] * sum(spacing) / 3)
    np.testing.assert_array_equal(slicer[:, 1], mm[:, 1])
    with pytest.raises(ValueError, match="units"):
        gv.suggest_gradient_opacity(f, spacing, units="vtk")


def ndi_smooth(f):
    import scipy.ndimage as ndi

    return ndi.gaussian_filter(f, 1.0) * 100


def test_suggestion_and_stats_match_the_cli(lung1, lung1_cli_gradient):
    _, summary, cli = lung1_cli_gradient
    stats = gv.gradient_stats(gv.load(lung1))
    np.testing.assert_allclose(stats.suggested_gradient_opacity, summary["suggested_gradient_opacity"], rtol=1e-9)
    mean = sum(gv.load(lung1).spacing) / 3
    np.testing.assert_allclose(stats.suggested_in_slicer_units()[:, 0], stats.suggested_gradient_opacity[:, 0] * mean)
    assert stats.max == pytest.approx(cli["max"])
    assert stats.percentiles == pytest.approx(cli["percentiles"])
    np.testing.assert_array_equal(stats.histogram_counts, cli["histogram"]["counts"])
    bins = cli["joint_histogram"]["bins"]
    np.testing.assert_array_equal(stats.joint_histogram, np.reshape(cli["joint_histogram"]["counts"], (bins, bins)))
    assert stats.boundary_emphasis["sigma_mm"] == pytest.approx(cli["boundary_emphasis"]["sigma_mm"])
    assert stats.operator == {"operator": "central"}


def test_apply_to_vtk_round_trips_through_a_real_volume_property():
    import vtk

    spacing = (0.7, 0.7, 2.5)
    tf = gv.TransferFunction.preset("CT-Bone", spacing).with_gradient_opacity([[0.0, 0.0], [40.0, 0.5], [120.0, 1.0]])
    prop = vtk.vtkVolumeProperty()
    tf.apply_to_vtk(prop, spacing)
    mean = sum(spacing) / 3
    # VTK's x axis is |grad f| per mm times the mean spacing.
    assert prop.GetGradientOpacity().GetValue(40.0 * mean) == pytest.approx(0.5)
    assert prop.GetGradientOpacity().GetValue(80.0 * mean) == pytest.approx(0.75)
    for x, a in tf.scalar_opacity:
        assert prop.GetScalarOpacity().GetValue(x) == pytest.approx(a)
    assert prop.GetScalarOpacityUnitDistance() == pytest.approx(tf.unit_distance_mm)
    back = gv.TransferFunction.from_vtk(prop, spacing)
    np.testing.assert_allclose(back.gradient_opacity, tf.gradient_opacity)
    np.testing.assert_allclose(back.scalar_opacity, tf.scalar_opacity)
    np.testing.assert_allclose(back.color, tf.color)
    assert back.shading == pytest.approx(tf.shading)


def test_suggested_points_go_into_a_volume_property_in_slicer_units():
    import vtk

    rng = np.random.default_rng(9)
    f = ndi_smooth(rng.normal(size=(16, 30, 30)))
    spacing = (3.0, 0.5, 0.5)
    prop = vtk.vtkVolumeProperty()
    prop.GetGradientOpacity().AddPoint(0.0, 1.0)
    points = gv.suggest_gradient_opacity(f, spacing, units="slicer")
    gv.set_gradient_opacity(prop, points)
    go = prop.GetGradientOpacity()
    assert go.GetSize() == len(points)
    for x, a in points:
        assert go.GetValue(x) == pytest.approx(a)
    with pytest.raises(ValueError, match="finite"):
        gv.set_gradient_opacity(prop, [[float("nan"), 1.0]])
