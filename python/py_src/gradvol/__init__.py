"""gradvol: gradient magnitude in physical units, gradient-opacity suggestions in 3D Slicer's
units, volumes with their geometry, and headless volume renders, from Python.

    >>> import gradvol as gv
    >>> vol = gv.load("lung.nrrd")                       # data (z, y, x), spacing (sz, sy, sx)
    >>> g = gv.gradient_magnitude(vol)                   # float32, data units per mm
    >>> gv.suggest_gradient_opacity(vol, units="slicer") # points for Slicer's editor
    >>> img = gv.render(vol, "CT-Bone", size=512)        # (512, 512, 4) uint8

Spacing is always given in the array's own axis order, as scipy's `sampling` is.
"""

from ._gradvol import __version__
from ._gradient import GradientStats, gradient_magnitude, gradient_stats, suggest_gradient_opacity
from ._render import Renderer, adapter, render
from ._tf import TransferFunction, set_gradient_opacity
from ._volume import Volume, load, save

__all__ = [
    "GradientStats",
    "Renderer",
    "TransferFunction",
    "Volume",
    "__version__",
    "adapter",
    "gradient_magnitude",
    "gradient_stats",
    "load",
    "render",
    "save",
    "set_gradient_opacity",
    "suggest_gradient_opacity",
]
