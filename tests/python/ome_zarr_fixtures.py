"""Stores written by zarr-python and ome-zarr-py, and a check that they read gradvol's stores.

Used by gradvol's tests (tests/zarr.rs) through the Python in GRADVOL_PYTHON:

    write DIR   writes DIR/v04_blosc.ome.zarr (OME-Zarr 0.4, Zarr v2, blosc, axes z y x in
                micrometres, two levels, a translation) and DIR/tczyx.ome.zarr (0.4, five axes,
                two time points and two channels) and prints what a reader must find, as JSON.
    read STORE  opens a store with ome-zarr-py's reader and zarr-python and prints, as JSON, the
                axes, each level's shape and scale, and level 0's sum and a few voxels.
"""

import json
import sys

import numcodecs
import numpy as np
import zarr
from ome_zarr.format import FormatV04
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr.writer import write_multiscale


def volume(shape):
    """A deterministic uint16 volume, axes (z, y, x)."""
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return ((x * 7 + y * 131 + z * 1009) % 4096).astype(np.uint16)


def halve(a):
    """The 2x2x2 mean over the last three axes, rounded (shapes here are even)."""
    s = a.shape
    b = a.reshape(s[:-3] + (s[-3] // 2, 2, s[-2] // 2, 2, s[-1] // 2, 2)).astype(np.float64)
    return np.round(b.mean(axis=(-5, -3, -1))).astype(a.dtype)


def write(folder):
    expect = {}
    level0 = volume((12, 20, 30))
    root = zarr.open_group(f"{folder}/v04_blosc.ome.zarr", mode="w", zarr_format=2)
    compressor = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    scale0 = [2.0, 0.5, 0.25]  # z, y, x in micrometres
    shift = [10.0, -3.0, 4.5]
    write_multiscale(
        [level0, halve(level0)],
        root,
        fmt=FormatV04(),
        axes=[{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"],
        coordinate_transformations=[
            [{"type": "scale", "scale": [s * f for s in scale0]}, {"type": "translation", "translation": shift}]
            for f in (1, 2)
        ],
        storage_options={"chunks": (5, 8, 16), "compressor": compressor},
    )
    expect["v04_blosc"] = {
        "dims": [30, 20, 12],
        "spacing_mm": [s / 1000 for s in reversed(scale0)],
        "origin_mm": [s / 1000 for s in reversed(shift)],
        "sum": int(level0.astype(np.int64).sum()),
        "level1_sum": int(halve(level0).astype(np.int64).sum()),
        "first": [int(v) for v in level0.ravel()[:5]],
        "last": int(level0.ravel()[-1]),
    }

    five = np.stack([np.stack([volume((4, 6, 8)) + 100 * (2 * t + c) for c in range(2)]) for t in range(2)])
    root = zarr.open_group(f"{folder}/tczyx.ome.zarr", mode="w", zarr_format=2)
    write_multiscale(
        [five],
        root,
        fmt=FormatV04(),
        axes=[
            {"name": "t", "type": "time"},
            {"name": "c", "type": "channel"},
            {"name": "z", "type": "space", "unit": "millimeter"},
            {"name": "y", "type": "space", "unit": "millimeter"},
            {"name": "x", "type": "space", "unit": "millimeter"},
        ],
        coordinate_transformations=[[{"type": "scale", "scale": [1.0, 1.0, 3.0, 2.0, 1.0]}]],
        storage_options={"chunks": (1, 1, 4, 6, 8)},
    )
    expect["tczyx"] = {
        "dims": [8, 6, 4],
        "spacing_mm": [1.0, 2.0, 3.0],
        "sum": int(five[0, 0].astype(np.int64).sum()),
    }
    print(json.dumps(expect))


def read(store):
    nodes = list(Reader(parse_url(store))())
    image = nodes[0]
    multiscales = image.metadata
    group = zarr.open_group(store, mode="r")
    level0 = np.asarray(group["0"])
    print(
        json.dumps(
            {
                "axes": [a["name"] for a in multiscales["axes"]],
                "shapes": [list(d.shape) for d in image.data],
                "scales": [t[0]["scale"] for t in multiscales["coordinateTransformations"]],
                "sum": int(level0.astype(np.int64).sum()),
                "dtype": str(level0.dtype),
                "first": [int(v) for v in level0.ravel()[:5]],
            }
        )
    )


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
