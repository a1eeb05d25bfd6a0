"""load and save with geometry, and conversions to SimpleITK, nibabel and napari."""

import os

import numpy as np
import pytest

import gradvol as gv


def test_load_gives_a_zyx_array_with_spacing_and_affine_in_array_order(lung1):
    import SimpleITK as sitk

    volume = gv.load(lung1)
    reference = sitk.ReadImage(str(lung1))
    expected = sitk.GetArrayFromImage(reference)
    assert volume.data.flags.c_contiguous
    assert volume.data.dtype == expected.dtype
    np.testing.assert_array_equal(volume.data, expected)
    np.testing.assert_allclose(volume.spacing, reference.GetSpacing()[::-1])
    assert volume.space == "LPS"
    # The affine maps (k, j, i) to the same point ITK maps (i, j, k) to.
    k, j, i = 3, 5, 7
    world = volume.affine @ np.array([k, j, i, 1.0])
    np.testing.assert_allclose(world[:3], reference.TransformIndexToPhysicalPoint((i, j, k)), atol=1e-6)


def test_nifti_geometry_agrees_with_nibabel(ch2):
    import nibabel as nib

    volume = gv.load(ch2)
    image = nib.load(str(ch2))
    # nibabel's array is (i, j, k); ours is (k, j, i).
    np.testing.assert_array_equal(volume.data, np.asarray(image.dataobj).transpose(2, 1, 0))
    ras = volume.affine_in("RAS")
    np.testing.assert_allclose(ras[:, [2, 1, 0, 3]], image.affine, atol=1e-4)


@pytest.mark.parametrize("suffix", [".nrrd", ".nii", ".nii.gz"])
def test_save_and_load_round_trip(tmp_path, lung1, suffix):
    volume = gv.load(lung1)
    part = gv.Volume(volume.data[10:30], volume.spacing, volume.affine, volume.space)
    path = tmp_path / f"part{suffix}"
    gv.save(path, part)
    back = gv.load(path)
    assert back.data.dtype == np.int16
    np.testing.assert_array_equal(back.data, part.data)
    np.testing.assert_allclose(back.affine_in("LPS"), part.affine_in("LPS"), atol=1e-4)


def test_save_writes_an_array_with_spacing(tmp_path):
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    gv.save(tmp_path / "a.nrrd", data, spacing=(3.0, 2.0, 0.5))
    back = gv.load(tmp_path / "a.nrrd")
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == pytest.approx((3.0, 2.0, 0.5))


def test_a_failed_save_leaves_no_file(tmp_path):
    with pytest.raises(OSError):
        gv.save(tmp_path / "missing" / "a.nrrd", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(OSError, match="nrrd"):
        gv.save(tmp_path / "a.png", np.zeros((2, 2, 2), np.uint8))
    assert os.listdir(tmp_path) == []


def test_a_broken_file_raises_os_error_with_the_readers_message(tmp_path):
    broken = tmp_path / "broken.nrrd"
    broken.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 100000 100000 100000\nencoding: raw\n\n")
    with pytest.raises(OSError) as info:
        gv.load(broken)
    assert "\n" not in str(info.value)
    with pytest.raises(OSError):
        gv.load(tmp_path / "nothing-here.nii")


def test_simpleitk_images_in_and_out(lung1):
    import SimpleITK as sitk

    volume = gv.load(lung1)
    image = sitk.ReadImage(str(lung1))
    # Geometry comes from the image: the same numbers as from gradvol's reader.
    np.testing.assert_array_equal(gv.gradient_magnitude(image), gv.gradient_magnitude(volume))
    out = volume.to_sitk()
    assert out.GetSpacing() == pytest.approx(image.GetSpacing())
    assert out.GetOrigin() == pytest.approx(image.GetOrigin())
    assert out.GetDirection() == pytest.approx(image.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(out), volume.data)


def test_nibabel_images_in_and_out(ch2):
    import nibabel as nib

    image = nib.load(str(ch2))
    volume = gv.load(ch2)
    from_nib = gv.gradient_magnitude(image)
    np.testing.assert_array_equal(from_nib.transpose(2, 1, 0), gv.gradient_magnitude(volume))
    out = volume.to_nibabel()
    np.testing.assert_allclose(out.affine[:, [2, 1, 0, 3]], image.affine, atol=1e-4)


def test_napari_kwargs_put_voxels_at_their_lps_position(lung1):
    volume = gv.load(lung1)
    affine = volume.napari_kwargs()["affine"]
    index = np.array([4.0, 6.0, 8.0, 1.0])
    lps = volume.affine_in("LPS") @ index
    np.testing.assert_allclose((affine @ index)[:3], lps[:3][::-1])


def test_an_ome_zarr_store_loads_like_its_source(tmp_path, ch2, gradvol_cli):
    import subprocess

    store = tmp_path / "ch2.ome.zarr"
    subprocess.run(
        [str(gradvol_cli), "convert", str(ch2), "-o", str(store), "--levels", "1"],
        capture_output=True,
        check=True,
    )
    source, converted = gv.load(ch2), gv.load(store)
    assert converted.format == "OME-Zarr"
    np.testing.assert_array_equal(converted.data, source.data)
    np.testing.assert_allclose(converted.affine_in("LPS"), source.affine_in("LPS"), atol=1e-4)


def test_pyvista_image_data_puts_each_voxel_where_the_affine_does(lung1):
    volume = gv.load(lung1)
    small = gv.Volume(volume.data[:4, :5, :6].copy(), volume.spacing, volume.affine, volume.space)
    grid = small.to_pyvista()
    assert grid.dimensions == (6, 5, 4)
    values = grid.point_data["values"]
    for k, j, i in [(0, 0, 0), (3, 4, 5), (2, 1, 3)]:
        point_id = i + 6 * (j + 5 * k)
        assert values[point_id] == small.data[k, j, i]
        expected = small.affine_in("LPS") @ np.array([k, j, i, 1.0])
        np.testing.assert_allclose(grid.points[point_id], expected[:3], atol=1e-4)
