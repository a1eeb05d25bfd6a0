"""The napari reader, through npe2's view of the installed package (napari is not needed)."""

import numpy as np

import gradvol as gv
from gradvol import _napari


def test_the_manifest_is_installed_and_valid():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("gradvol")
    assert manifest.name == "gradvol"
    (reader,) = manifest.contributions.readers
    assert "*.nrrd" in reader.filename_patterns and reader.accepts_directories
    (command,) = manifest.contributions.commands
    assert command.python_name == "gradvol._napari:get_reader"


def test_the_reader_gives_an_image_layer_in_patient_space(lung1):
    reader = _napari.get_reader(str(lung1))
    assert reader is not None
    ((data, kwargs, kind),) = reader(str(lung1))
    volume = gv.load(lung1)
    assert kind == "image"
    np.testing.assert_array_equal(data, volume.data)
    np.testing.assert_allclose(kwargs["affine"], volume.napari_kwargs()["affine"])
    assert kwargs["metadata"]["space"] == "LPS"
    assert kwargs["name"] == "lung1_image.nrrd"


def test_the_reader_declines_what_it_cannot_read(tmp_path):
    assert _napari.get_reader(str(tmp_path / "photo.png")) is None
    assert _napari.get_reader([str(tmp_path / "a.nrrd"), str(tmp_path / "b.nrrd")]) is None
