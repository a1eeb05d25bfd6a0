#!/usr/bin/env python3
"""Writes tests/data/dicom_corpus_truth.json: what pydicom reads in each of its own test files.

The files come from the pydicom wheel (scripts/fetch-sample-data.sh puts them in
data/pydicom/). For each file the truth holds either the volume a careful reader builds from
pydicom's values (dims, spacing, origin of the lowest frame, the rescaled value range), or why
pydicom gives no volume (no pixel data, colour, 1-bit, a parse or decode error). gradvol's test
(tests/peer_corpus.rs) compares its own reading with this.

Run by hand when the corpus changes, in a virtual environment holding the peer readers:

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install pydicom==3.0.2 numpy \
        pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle
    /tmp/peer/bin/python scripts/dicom-truth.py data/pydicom > tests/data/dicom_corpus_truth.json
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

warnings.simplefilter("ignore")


def floats(ds, keyword):
    v = ds.get(keyword)
    if v is None:
        return None
    try:
        return [float(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])]
    except (TypeError, ValueError):
        return None


def truth(path):
    try:
        ds = pydicom.dcmread(path)
    except Exception as e:  # pydicom refuses the file outright
        return {"peer": "unreadable", "reason": str(e).splitlines()[0][:200]}
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    if not has_pixels or "Rows" not in ds:
        return {"peer": "no image"}
    spp = int(ds.get("SamplesPerPixel", 1))
    if spp != 1:
        return {"peer": "colour", "samples_per_pixel": spp}
    if int(ds.get("BitsAllocated", 0)) == 1:
        return {"peer": "1-bit"}
    try:
        arr = ds.pixel_array
    except Exception as e:
        return {"peer": "cannot decode", "reason": str(e).splitlines()[0][:200]}
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    scaling = floats(ds, "DoseGridScaling")
    if scaling:
        values = values * scaling[0]
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    iop = floats(ds, "ImageOrientationPatient") or [1, 0, 0, 0, 1, 0]
    r, c = np.array(iop[:3]), np.array(iop[3:])
    normal = np.cross(r, c)
    ps = floats(ds, "PixelSpacing") or floats(ds, "ImagerPixelSpacing") or [1.0, 1.0]
    ipp = np.array(floats(ds, "ImagePositionPatient") or [0.0, 0.0, 0.0])
    offsets = floats(ds, "GridFrameOffsetVector")
    if frames > 1 and offsets and len(offsets) == frames:
        rel = np.array(offsets) - offsets[0]
        dz = abs(rel[-1]) / (frames - 1)
        origin = ipp + normal * rel.min()
    else:
        gap = floats(ds, "SpacingBetweenSlices") or floats(ds, "SliceThickness")
        dz = gap[0] if gap and gap[0] > 0 else 1.0
        origin = ipp
    return {
        "peer": "volume",
        "dims": [cols, rows, frames],
        "spacing": [ps[1], ps[0], dz],
        "origin_lps": [round(float(x), 6) for x in origin],
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", "")),
    }


def main():
    folder = Path(sys.argv[1])
    out = {p.name: truth(p) for p in sorted(folder.glob("*.dcm"))}
    out = {"_source": f"pydicom {pydicom.__version__} test files, read by pydicom", **out}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
