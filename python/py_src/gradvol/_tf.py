"""Transfer functions: the built-in presets, JSON in and out, and VTK volume properties."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, List, Sequence, Union

import numpy as np

from . import _gradvol as _native


class TransferFunction:
    """A gradvol transfer function: colour and scalar opacity over value, gradient opacity over
    |grad f| in data units per mm, shading, and optional 2-D widgets. The same JSON as
    `gradvol render --tf` reads and the viewer saves.

    Opacities are per `unit_distance_mm` (1 mm by default, as in Slicer's presets).
    """

    def __init__(self, spec: Union[str, dict, "TransferFunction"]):
        if isinstance(spec, TransferFunction):
            spec = spec.to_dict()
        text = spec if isinstance(spec, str) else json.dumps(spec)
        self._dict = json.loads(_native.check_transfer_function(text))

    @staticmethod
    def presets() -> List[str]:
        """The built-in preset names: gradvol's own first, then 3D Slicer's."""
        return [name for name, _ in _native.preset_names()]

    @classmethod
    def preset(cls, name: str, spacing: Union[float, Sequence[float]] = 1.0) -> "TransferFunction":
        """The preset `name` (case-insensitive). Slicer's presets state gradient opacity in
        VTK's units; it is converted to data units per mm for a volume of this `spacing`
        (mm; the mean of the three is what matters). Raises ValueError for an unknown name."""
        return cls(_native.preset_json(name, _mean_spacing(spacing)))

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "TransferFunction":
        """Reads a transfer-function JSON file."""
        with open(path, encoding="utf-8") as f:
            return cls(f.read())

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the JSON atomically (a temporary file renamed into place)."""
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".gradvol-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.to_json(indent=2))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def to_json(self, indent: Union[int, None] = None) -> str:
        return json.dumps(self._dict, indent=indent)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self._dict))

    @property
    def scalar_opacity(self) -> np.ndarray:
        """(n, 2) points [value, opacity per unit distance]."""
        return np.asarray(self._dict["scalar_opacity"], dtype=float).reshape(-1, 2)

    @property
    def color(self) -> np.ndarray:
        """(n, 4) points [value, r, g, b], components in 0..1."""
        return np.asarray(self._dict["color"], dtype=float).reshape(-1, 4)

    @property
    def gradient_opacity(self) -> np.ndarray:
        """(n, 2) points [|grad f| in data units per mm, opacity]; [[0, 1]] means off."""
        return np.asarray(self._dict["gradient_opacity"], dtype=float).reshape(-1, 2)

    @property
    def shading(self) -> dict:
        return dict(self._dict["shading"])

    @property
    def unit_distance_mm(self) -> float:
        return float(self._dict["unit_distance_mm"])

    def with_gradient_opacity(self, points: Any) -> "TransferFunction":
        """A copy with these gradient-opacity points (|grad f| in data units per mm)."""
        spec = self.to_dict()
        spec["gradient_opacity"] = np.asarray(points, dtype=float).reshape(-1, 2).tolist()
        return TransferFunction(spec)

    def apply_to_vtk(self, volume_property: Any, spacing: Union[float, Sequence[float]]) -> None:
        """Writes this transfer function into a `vtkVolumeProperty` (VTK, pyvista's
        `actor.prop`, or Slicer's volume rendering display node's `GetVolumePropertyNode()
        .GetVolumeProperty()`), in VTK's units: gradient opacity x times the mean `spacing`
        (mm), scalar opacity unit distance in mm, shading.

        2-D widgets have no VTK equivalent and are not carried over."""
        import vtk

        scale = _mean_spacing(spacing)
        scalar = vtk.vtkPiecewiseFunction()
        for x, a in self.scalar_opacity:
            scalar.AddPoint(float(x), float(a))
        color = vtk.vtkColorTransferFunction()
        for x, r, g, b in self.color:
            color.AddRGBPoint(float(x), float(r), float(g), float(b))
        gradient = vtk.vtkPiecewiseFunction()
        for x, a in self.gradient_opacity:
            gradient.AddPoint(float(x) * scale, float(a))
        volume_property.SetScalarOpacity(scalar)
        volume_property.SetColor(color)
        volume_property.SetGradientOpacity(gradient)
        volume_property.SetScalarOpacityUnitDistance(self.unit_distance_mm)
        volume_property.SetInterpolationTypeToLinear()
        shading = self.shading
        volume_property.SetShade(bool(shading["shade"]))
        volume_property.SetAmbient(float(shading["ambient"]))
        volume_property.SetDiffuse(float(shading["diffuse"]))
        volume_property.SetSpecular(float(shading["specular"]))
        volume_property.SetSpecularPower(float(shading["specular_power"]))

    @classmethod
    def from_vtk(cls, volume_property: Any, spacing: Union[float, Sequence[float]]) -> "TransferFunction":
        """Reads a `vtkVolumeProperty` (VTK's units) into a gradvol transfer function."""
        scale = _mean_spacing(spacing)

        def nodes(function: Any, width: int) -> list:
            out = []
            for i in range(function.GetSize()):
                node = [0.0] * width
                function.GetNodeValue(i, node)
                out.append(node)
            return out

        scalar = [[x, a] for x, a, *_ in nodes(volume_property.GetScalarOpacity(), 4)]
        color = [[x, r, g, b] for x, r, g, b, *_ in nodes(volume_property.GetRGBTransferFunction(), 6)]
        gradient = [[x / scale, a] for x, a, *_ in nodes(volume_property.GetGradientOpacity(), 4)]
        return cls(
            {
                "scalar_opacity": scalar,
                "color": color,
                "gradient_opacity": gradient or [[0.0, 1.0]],
                "unit_distance_mm": volume_property.GetScalarOpacityUnitDistance(),
                "shading": {
                    "shade": bool(volume_property.GetShade()),
                    "ambient": volume_property.GetAmbient(),
                    "diffuse": volume_property.GetDiffuse(),
                    "specular": volume_property.GetSpecular(),
                    "specular_power": volume_property.GetSpecularPower(),
                },
            }
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransferFunction) and self._dict == other._dict

    def __repr__(self) -> str:
        return (
            f"TransferFunction({len(self._dict['scalar_opacity'])} opacity points, "
            f"{len(self._dict['color'])} colour points, "
            f"{len(self._dict['gradient_opacity'])} gradient-opacity points)"
        )


def set_gradient_opacity(volume_property: Any, points: Any) -> None:
    """Replaces the gradient-opacity points of a `vtkVolumeProperty` (Slicer's, pyvista's or
    VTK's) with `points`, (n, 2) [x, opacity] already in VTK's units (for example
    `suggest_gradient_opacity(..., units="slicer")`)."""
    values = np.asarray(points, dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(values)):
        raise ValueError("gradient-opacity points must be finite")
    function = volume_property.GetGradientOpacity()
    function.RemoveAllPoints()
    for x, a in values:
        function.AddPoint(float(x), float(a))


def _mean_spacing(spacing: Union[float, Sequence[float]]) -> float:
    try:
        values = [float(spacing)]  # type: ignore[arg-type]
    except TypeError:
        values = [float(s) for s in spacing]  # type: ignore[union-attr]
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing must be positive and finite (mm), got {spacing!r}")
    return sum(values) / len(values)
