"""Headless renders through the same renderer as `gradvol render` and the viewer."""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _gradvol as _native
from ._tf import TransferFunction
from ._volume import Volume, as_image

TfLike = Union[None, str, dict, TransferFunction]


def _scene(
    tf: TfLike,
    size: Union[None, int, Sequence[int]],
    camera: Optional[dict],
    settings: dict,
    base: Optional[dict] = None,
) -> str:
    scene = dict(base or {})
    scene.pop("volume", None)
    if isinstance(tf, TransferFunction):
        scene["transfer_function"] = tf.to_dict()
        scene.pop("preset", None)
    elif isinstance(tf, dict):
        scene["transfer_function"] = TransferFunction(tf).to_dict()
        scene.pop("preset", None)
    elif isinstance(tf, str):
        scene["preset"] = tf
        scene.pop("transfer_function", None)
    elif tf is not None:
        raise TypeError("tf must be a preset name, a TransferFunction, a dict or None")
    if camera is not None:
        scene["camera"] = {**scene.get("camera", {}), **camera}
    render = {**scene.get("render", {}), **settings}
    if size is not None:
        w, h = (size, size) if isinstance(size, int) else tuple(size)
        render["size"] = [int(w), int(h)]
    scene["render"] = render
    return json.dumps(scene)


def _read_scene(scene: Union[None, str, os.PathLike, dict]) -> Optional[dict]:
    if scene is None or isinstance(scene, dict):
        return scene
    with open(scene, encoding="utf-8") as f:
        return json.load(f)


class Renderer:
    """A volume kept on the GPU for many renders (turntables, transfer-function sweeps): the
    bricks, |grad f| and tables stay resident between calls.

    Args:
        volume: a `Volume` (its geometry places it), an array (with `spacing`), or a
            SimpleITK or nibabel image.
        tf: a preset name, a `TransferFunction` or its dict; None uses the scene's, else a grey
            ramp over the data's range.
        spacing: mm per array axis for a plain array.
        scene: a scene dict or JSON file (as `gradvol render --scene` reads) to start from.
        device: "auto" (any adapter, software ones such as lavapipe included) or "gpu" (a
            hardware adapter only).
        size, camera, **settings: as for `render`.
    """

    def __init__(
        self,
        volume: Any,
        tf: TfLike = None,
        *,
        spacing: Union[None, float, Sequence[float]] = None,
        scene: Union[None, str, os.PathLike, dict] = None,
        device: str = "auto",
        size: Union[None, int, Sequence[int]] = None,
        camera: Optional[dict] = None,
        **settings: Any,
    ):
        if device not in ("auto", "gpu"):
            raise ValueError(f"render runs on a GPU adapter: device must be 'auto' or 'gpu', got {device!r}")
        vol = Volume.from_any(volume, spacing)
        array, _ = as_image(vol.data, vol.spacing)
        self._base = json.loads(_scene(tf, size, camera, settings, _read_scene(scene)))
        self._native = _native.NativeRenderer(array, vol.affine.tolist(), vol.space, json.dumps(self._base))
        if device == "gpu" and "Cpu" in self._native.adapter:
            raise RuntimeError(f"device='gpu' needs a hardware adapter; found {self._native.adapter}")

    @property
    def adapter(self) -> str:
        """The adapter it draws with: "name (backend, device type)"."""
        return self._native.adapter

    @property
    def note(self) -> Optional[str]:
        """Why the volume on the GPU is coarser than the one given (the device's 3-D texture
        limit), or None."""
        return self._native.note

    def render(
        self,
        tf: TfLike = None,
        *,
        size: Union[None, int, Sequence[int]] = None,
        camera: Optional[dict] = None,
        **settings: Any,
    ) -> np.ndarray:
        """An RGBA image, (height, width, 4) uint8, top row first.

        tf: replaces the transfer function for this and later renders (None keeps it).
        size: width and height in pixels (or one number for a square).
        camera: {"view": "anterior"|"posterior"|"left"|"right"|"superior"|"inferior",
            "azimuth_deg", "elevation_deg", "zoom", "orthographic", "fov_deg", "pan_mm"}.
        settings: the scene's render settings: blend ("composite", "maximum", "minimum",
            "average"), sample_distance_mm, gradient ({"operator": ...}), shading, crop,
            background, transparent, jitter, skip_empty_space, accumulate.
        """
        text = _scene(tf, size, camera, settings, self._base)
        self._base = json.loads(text)
        return self._native.render(text)


def render(
    volume: Any,
    tf: TfLike = None,
    *,
    spacing: Union[None, float, Sequence[float]] = None,
    scene: Union[None, str, os.PathLike, dict] = None,
    size: Union[None, int, Sequence[int]] = None,
    camera: Optional[dict] = None,
    device: str = "auto",
    **settings: Any,
) -> np.ndarray:
    """One headless render, (height, width, 4) uint8 RGBA: the same pixels as `gradvol render`
    with the same scene on the same adapter. No window system is used; on a machine without a
    GPU, install Mesa's software Vulkan driver (Debian: mesa-vulkan-drivers).

    See `Renderer` for the arguments; use a `Renderer` for many images of one volume."""
    renderer = Renderer(
        volume, tf, spacing=spacing, scene=scene, device=device, size=size, camera=camera, **settings
    )
    return renderer.render()


def adapter() -> str:
    """The adapter gradvol renders with, "name (backend, device type)"; RuntimeError when there
    is none."""
    return _native.adapter()
