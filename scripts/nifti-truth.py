#!/usr/bin/env python3
"""Writes tests/data/nibabel_corpus_truth.json: what nibabel reads in its own NIfTI test files.

The files come from Debian's python3-nibabel (scripts/fetch-sample-data.sh puts them in
data/nibabel/). For each: the first volume as nibabel gives it (dims, spacing and origin in LPS
from the affine, scaled value range and mean), or why nibabel gives no volume. gradvol's test
(tests/peer_corpus.rs) compares its own reading with this.

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install nibabel numpy
    /tmp/peer/bin/python scripts/nifti-truth.py data/nibabel > tests/data/nibabel_corpus_truth.json
"""

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np


def truth(path):
    try:
        img = nib.load(path)
    except Exception as e:
        return {"peer": "unreadable", "reason": str(e).splitlines()[0][:200]}
    if type(img).__name__.startswith("Cifti"):
        return {"peer": "not a volume", "reason": type(img).__name__}
    try:
        # The array proxy applies scl_slope and scl_inter.
        data = np.asanyarray(img.dataobj)
    except Exception as e:
        return {"peer": "unreadable", "reason": str(e).splitlines()[0][:200]}
    while data.ndim > 3:
        data = data[..., 0]
    while data.ndim < 3:
        data = data[..., np.newaxis]
    scaled = np.asarray(data, dtype=np.float64)
    # gradvol's range and the test's mean are over the finite values (NaN marks no data).
    scaled = scaled[np.isfinite(scaled)]
    a = img.affine
    flip = np.diag([-1.0, -1.0, 1.0])
    lin = flip @ a[:3, :3]
    return {
        "peer": "volume",
        "dims": list(data.shape),
        "spacing": [float(x) for x in np.linalg.norm(lin, axis=0)],
        "origin_lps": [float(x) for x in flip @ a[:3, 3]],
        "min": float(scaled.min()),
        "max": float(scaled.max()),
        "mean": float(scaled.mean()),
    }


def main():
    folder = Path(sys.argv[1])
    out = {p.name: truth(p) for p in sorted(folder.iterdir()) if p.is_file()}
    out = {"_source": f"nibabel test files, read by nibabel {nib.__version__}", **out}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
