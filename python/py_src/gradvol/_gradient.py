"""The gradient magnitude, its statistics, and suggested gradient-opacity points."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _gradvol as _native
from ._volume import as_image

Spacing = Union[None, float, Sequence[float]]


def gradient_magnitude(
    image: Any,
    spacing: Spacing = None,
    *,
    operator: str = "central",
    sigma_mm: Optional[float] = None,
    device: str = "cpu",
) -> np.ndarray:
    """|grad f| in data units per mm, as float32, with the shape and memory order of `image`.

    Args:
        image: a 3-D array of any real dtype (either byte order, C or Fortran order, any
            strides; read in place when C- or F-contiguous), or a `Volume`, SimpleITK image or
            nibabel image (whose spacing is used).
        spacing: mm between voxel centres along each *array* axis, like scipy's `sampling`:
            a (z, y, x) array from Slicer or SimpleITK takes (sz, sy, sx). A number means the
            same on all axes; None means the image's own, or 1 for a plain array (then the
            result is in data units per voxel).
        operator: "central" (VTK's vtkImageGradient: (f(x+h) - f(x-h)) / 2h, borders
            clamped), "sobel" (scipy.ndimage.sobel / (32 h)), or "gaussian" (derivative of a
            Gaussian of `sigma_mm` millimetres: robust to noise).
        sigma_mm: the Gaussian's width in mm (operator "gaussian" only).
        device: "cpu", "gpu" (the compute pass; raises RuntimeError without a GPU), or "auto"
            (the GPU when it is real hardware, else the CPU, as `gradvol gradient` chooses).

    Integers are differenced as floats: uint8 input does not wrap around. The GIL is released
    while it runs; do not write into `image` from another thread meanwhile.
    """
    array, sp = as_image(image, spacing)
    out, _ = _native.gradient_magnitude(array, list(sp), operator, sigma_mm, device)
    return out


@dataclass(frozen=True)
class GradientStats:
    """Statistics of |grad f| over a volume, all in data units per mm (what
    `gradvol gradient --stats` writes).

    Attributes:
        min, max, mean: of the finite |grad f|.
        percentiles: {"p50", "p90", "p95", "p99", "p99_9"}.
        histogram_edges, histogram_counts: log-spaced bins from max / 10^4 to max (the first
            bin holds everything below its upper edge).
        joint_histogram: counts over (|grad f| row, value column), shape (bins, bins).
        joint_value_range, joint_gradient_range: what its columns and rows span.
        suggested_gradient_opacity: (n, 2) points [|grad f| in data units per mm, opacity]: a
            ramp from 0 at the median to 1 at the 95th percentile.
        boundary_emphasis: Kindlmann and Durkin's scalar-opacity suggestion ({"sigma_mm",
            "scalar_opacity", "table"}), or None when the volume has no boundaries.
        operator, device: how and where |grad f| was computed.
        mean_spacing_mm: (s0 + s1 + s2) / 3, the factor to Slicer's gradient-opacity units.
        value_range: the data's finite minimum and maximum.
    """

    min: float
    max: float
    mean: float
    non_finite: int
    percentiles: dict
    histogram_edges: np.ndarray
    histogram_counts: np.ndarray
    joint_histogram: np.ndarray
    joint_value_range: tuple
    joint_gradient_range: tuple
    suggested_gradient_opacity: np.ndarray
    boundary_emphasis: Optional[dict]
    operator: dict
    device: str
    mean_spacing_mm: float
    value_range: tuple

    def suggested_in_slicer_units(self) -> np.ndarray:
        """`suggested_gradient_opacity` with x in Slicer's and VTK's units (times the mean
        spacing), ready to type into Slicer's gradient-opacity editor."""
        points = self.suggested_gradient_opacity.copy()
        points[:, 0] *= self.mean_spacing_mm
        return points


def gradient_stats(
    image: Any,
    spacing: Spacing = None,
    *,
    operator: str = "central",
    sigma_mm: Optional[float] = None,
    device: str = "cpu",
) -> GradientStats:
    """|grad f| and its statistics (arguments as for `gradient_magnitude`)."""
    array, sp = as_image(image, spacing)
    raw = json.loads(_native.gradient_stats(array, list(sp), operator, sigma_mm, device))
    s = raw["stats"]
    joint = s["joint_histogram"]
    bins = joint["bins"]
    return GradientStats(
        min=s["min"],
        max=s["max"],
        mean=s["mean"],
        non_finite=s["non_finite"],
        percentiles=dict(s["percentiles"]),
        histogram_edges=np.asarray(s["histogram"]["edges"], dtype=float),
        histogram_counts=np.asarray(s["histogram"]["counts"], dtype=np.uint64),
        joint_histogram=np.asarray(joint["counts"], dtype=np.uint64).reshape(bins, bins),
        joint_value_range=tuple(joint["value_range"]),
        joint_gradient_range=tuple(joint["gradient_range"]),
        suggested_gradient_opacity=np.asarray(
            s["suggested_gradient_opacity"], dtype=float
        ).reshape(-1, 2),
        boundary_emphasis=s["boundary_emphasis"],
        operator=raw["operator"],
        device=raw["device"],
        mean_spacing_mm=raw["mean_spacing_mm"],
        value_range=tuple(raw["value_range"]),
    )


def suggest_gradient_opacity(
    image: Any,
    spacing: Spacing = None,
    *,
    units: str = "mm",
    operator: str = "central",
    sigma_mm: Optional[float] = None,
    device: str = "cpu",
) -> np.ndarray:
    """Gradient-opacity points (n, 2) [|grad f|, opacity] for this volume: 0 at the median
    |grad f| (homogeneous tissue disappears), 1 at the 95th percentile (boundaries stay).

    units: "mm" gives |grad f| in data units per mm (gradvol's transfer functions); "slicer"
    multiplies it by the mean spacing, which is what the x axis of 3D Slicer's (and VTK's)
    gradient-opacity editor means, so the points paste straight in.
    """
    if units not in ("mm", "slicer"):
        raise ValueError(f"units must be 'mm' or 'slicer', got {units!r}")
    stats = gradient_stats(image, spacing, operator=operator, sigma_mm=sigma_mm, device=device)
    if units == "slicer":
        return stats.suggested_in_slicer_units()
    return stats.suggested_gradient_opacity
