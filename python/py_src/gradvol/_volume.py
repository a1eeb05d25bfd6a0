"""Volumes with their geometry: `Volume`, `load`, `save`, and conversion to other libraries."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _gradvol as _native

# The dtypes the core reads as they are; others are converted (see `as_image`).
_NATIVE_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")

# LPS and RAS differ by a flip of x and y.
_FLIP_XY = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Volume:
    """Voxels and where they lie in patient space.

    Attributes:
        data: the voxels, a 3-D numpy array in the file's own dtype. Volumes from `load` are
            C-ordered (z, y, x), as SimpleITK's `GetArrayFromImage` and Slicer's
            `arrayFromVolume` give them.
        spacing: distance between voxel centres along each array axis, in mm, in the array's
            axis order: (sz, sy, sx) for a (z, y, x) array.
        affine: 4x4 matrix mapping array indices (i0, i1, i2, 1), in the array's axis order, to
            millimetres in `space`.
        space: "LPS" (DICOM, ITK, Slicer's files) or "RAS" (NIfTI).
        format: the file format it came from ("NRRD", "NIfTI", "OME-Zarr", ...), or "array".
        notes: what the reader did that a user should know.
    """

    data: np.ndarray
    spacing: Tuple[float, float, float]
    affine: np.ndarray
    space: str = "LPS"
    format: str = "array"
    notes: Tuple[str, ...] = field(default=())

    @classmethod
    def from_array(
        cls,
        data: Any,
        spacing: Union[float, Sequence[float]] = 1.0,
        origin: Sequence[float] = (0.0, 0.0, 0.0),
        space: str = "LPS",
    ) -> "Volume":
        """An axis-aligned volume: `spacing` (mm) and `origin` (mm) in the array's axis order."""
        array = np.asarray(data)
        if array.ndim != 3:
            raise ValueError(f"a volume needs a 3-D array, got shape {array.shape}")
        sp = _spacing_tuple(spacing)
        affine = np.diag([*sp, 1.0])
        affine[:3, 3] = np.asarray(origin, dtype=float)
        return cls(array, sp, affine, _space(space))

    @classmethod
    def from_any(cls, obj: Any, spacing: Union[None, float, Sequence[float]] = None) -> "Volume":
        """A `Volume` from what the caller holds: a `Volume`, a numpy array (with `spacing`),
        a SimpleITK image or a nibabel image (their geometry is used)."""
        if isinstance(obj, Volume):
            return obj if spacing is None else obj.with_spacing(spacing)
        module = type(obj).__module__.split(".")[0]
        if module == "SimpleITK":
            return _from_sitk(obj)
        if hasattr(obj, "affine") and hasattr(obj, "dataobj"):
            return _from_nibabel(obj)
        return cls.from_array(obj, 1.0 if spacing is None else spacing)

    def with_spacing(self, spacing: Union[float, Sequence[float]]) -> "Volume":
        """The same voxels on an axis-aligned grid at the same origin with another spacing."""
        sp = _spacing_tuple(spacing)
        affine = np.diag([*sp, 1.0])
        affine[:3, 3] = self.affine[:3, 3]
        return Volume(self.data, sp, affine, self.space, self.format, self.notes)

    @property
    def mean_spacing(self) -> float:
        """(s0 + s1 + s2) / 3 in mm: the factor VTK's GPU ray caster and Slicer put on the
        gradient-opacity axis."""
        return float(sum(self.spacing)) / 3.0

    def affine_in(self, space: str) -> np.ndarray:
        """The affine in "LPS" or "RAS"."""
        return self.affine if _space(space) == self.space else _FLIP_XY @ self.affine

    def napari_kwargs(self) -> dict:
        """Keyword arguments for `napari.Viewer.add_image(volume.data, **kwargs)`: the affine
        with world axes in the array's order (for a (z, y, x) array: z, y, x in LPS mm)."""
        lps = self.affine_in("LPS")
        reorder = np.eye(4)
        reorder[:3, :3] = np.eye(3)[::-1]
        return {"affine": reorder @ lps, "name": "gradvol volume"}

    def to_sitk(self):
        """A `SimpleITK.Image` (LPS) of the voxels, reading `data` as (z, y, x)."""
        import SimpleITK as sitk

        lps = self.affine_in("LPS")
        cols = lps[:3, [2, 1, 0]]
        spacing = np.linalg.norm(cols, axis=0)
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.data))
        image.SetSpacing([float(s) for s in spacing])
        image.SetOrigin([float(v) for v in lps[:3, 3]])
        image.SetDirection([float(v) for v in (cols / spacing).ravel()])
        return image

    def to_nibabel(self):
        """A `nibabel.Nifti1Image` (RAS affine in the array's axis order)."""
        import nibabel as nib

        return nib.Nifti1Image(self.data, self.affine_in("RAS"))

    def to_pyvista(self):
        """A `pyvista.ImageData` with the voxels as point data "values", reading `data` as
        (z, y, x); its origin, spacing and direction are in LPS mm."""
        import pyvista as pv

        lps = self.affine_in("LPS")
        cols = lps[:3, [2, 1, 0]]
        spacing = np.linalg.norm(cols, axis=0)
        nz, ny, nx = self.data.shape
        grid = pv.ImageData(
            dimensions=(nx, ny, nz),
            spacing=tuple(float(s) for s in spacing),
            origin=tuple(float(v) for v in lps[:3, 3]),
            direction_matrix=cols / spacing,
        )
        grid.point_data["values"] = np.ascontiguousarray(self.data).ravel(order="C")
        return grid


def _space(space: str) -> str:
    name = str(space).upper()
    if name not in ("LPS", "RAS"):
        raise ValueError(f"space must be 'LPS' or 'RAS', got {space!r}")
    return name


def _spacing_tuple(spacing: Union[float, Sequence[float]]) -> Tuple[float, float, float]:
    try:
        values = [float(spacing)] * 3  # type: ignore[arg-type]
    except TypeError:
        values = [float(s) for s in spacing]  # type: ignore[union-attr]
    if len(values) != 3:
        raise ValueError(
            f"spacing needs 3 values, one per array axis (mm), got {len(values)}"
        )
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing must be positive and finite (mm), got {tuple(values)}")
    return (values[0], values[1], values[2])


def _from_sitk(image) -> Volume:
    import SimpleITK as sitk

    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("gradvol reads 3-D scalar SimpleITK images")
    data = sitk.GetArrayViewFromImage(image)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    xyz = direction * spacing
    affine = np.eye(4)
    affine[:3, :3] = xyz[:, [2, 1, 0]]
    affine[:3, 3] = image.GetOrigin()
    sp = (float(spacing[2]), float(spacing[1]), float(spacing[0]))
    return Volume(data, sp, affine, "LPS", "sitk")


def _from_nibabel(image) -> Volume:
    data = np.asanyarray(image.dataobj)
    if data.ndim != 3:
        raise ValueError(f"gradvol reads 3-D images, this one has shape {data.shape}")
    affine = np.asarray(image.affine, dtype=float)
    sp = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    return Volume(data, sp, affine, "RAS", "nibabel")  # type: ignore[arg-type]


def as_image(image: Any, spacing: Union[None, float, Sequence[float]]) -> Tuple[np.ndarray, Tuple[float, float, float]]:
    """The array and its spacing (array order) as the native module takes them: 3-D, one of
    the eight dtypes the core reads, native byte order. Copies only when the dtype or byte
    order must change."""
    if isinstance(image, Volume) or type(image).__module__.split(".")[0] == "SimpleITK" or (
        hasattr(image, "affine") and hasattr(image, "dataobj")
    ):
        volume = Volume.from_any(image, spacing)
        array, sp = volume.data, volume.spacing
    else:
        array = np.asarray(image)
        sp = _spacing_tuple(1.0 if spacing is None else spacing)
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"gradvol needs a 3-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"the array is empty (shape {array.shape})")
    dtype = array.dtype
    if dtype.kind not in "biuf":
        raise ValueError(f"gradvol reads real numbers, not dtype {dtype}")
    if dtype.kind == "b":
        array = array.astype(np.uint8)
    elif dtype.name == "float16":
        array = array.astype(np.float32)
    elif dtype.newbyteorder("=").name not in _NATIVE_DTYPES:
        # 64-bit integers: float64 holds them exactly up to 2^53.
        array = array.astype(np.float64)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array, sp


def load(path: Union[str, os.PathLike]) -> Volume:
    """Reads NRRD (.nrrd, .nhdr), NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), a DICOM
    series folder, or an OME-Zarr store with gradvol's own readers (the same as the command
    line). The voxels come back C-ordered (z, y, x) in the file's own dtype, without a copy.

    Raises OSError with the reader's one-line message when the file cannot be read."""
    data, spacing, affine, space, fmt, notes = _native.load(os.fspath(path))
    return Volume(
        data, tuple(spacing), np.asarray(affine, dtype=float), space, fmt, tuple(notes)  # type: ignore[arg-type]
    )


def save(
    path: Union[str, os.PathLike],
    volume: Any,
    *,
    spacing: Union[None, float, Sequence[float]] = None,
    description: str = "written by gradvol",
) -> None:
    """Writes a volume, or an array with `spacing`, to NRRD (.nrrd) or NIfTI (.nii, .nii.gz)
    in its own dtype with its geometry. Written atomically: a failure leaves no file."""
    vol = Volume.from_any(volume, spacing)
    array, _ = as_image(vol.data, vol.spacing)
    _native.save(os.fspath(path), array, vol.affine.tolist(), vol.space, description)
