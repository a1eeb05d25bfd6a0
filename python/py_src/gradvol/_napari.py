"""napari reader (npe2 manifest: napari.yaml): `napari lung.nrrd` opens the volume through
gradvol's readers, placed in patient space by its affine. napari itself is not imported."""

from __future__ import annotations

import os
from typing import Any, Callable, List, Optional, Tuple, Union

from ._volume import load

_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd", ".dcm", ".zarr")

LayerData = Tuple[Any, dict, str]


def get_reader(path: Union[str, List[str]]) -> Optional[Callable[[Any], List[LayerData]]]:
    """The reader for `path` (one file, a DICOM folder or an OME-Zarr store), or None when
    gradvol does not read it, so that napari asks another plugin."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    name = os.fspath(path).rstrip("/\\").lower()
    if name.endswith(_SUFFIXES) or os.path.isdir(name):
        return read
    return None


def read(path: Union[str, List[str]]) -> List[LayerData]:
    """One image layer: the voxels as stored (z, y, x), with the affine that puts them at their
    LPS position in mm, and the geometry in the layer's metadata."""
    if isinstance(path, list):
        path = path[0]
    volume = load(path)
    kwargs = volume.napari_kwargs()
    kwargs["name"] = os.path.basename(os.fspath(path).rstrip("/\\"))
    kwargs["metadata"] = {
        "spacing_mm": volume.spacing,
        "space": volume.space,
        "format": volume.format,
        "notes": list(volume.notes),
    }
    return [(volume.data, kwargs, "image")]
