#!/usr/bin/env python3
"""Writes seeds for the `dicom_folder` target into corpus/dicom_folder/ (git-ignored).

Each seed is a small series from pydicom's test files (../data/pydicom/, fetched by
scripts/fetch-sample-data.sh): copies of one slice whose ImagePositionPatient z is moved,
joined by the target's `--next-file--` separator. Standard-library Python only.
"""

from pathlib import Path

SEP = b"--next-file--"
here = Path(__file__).resolve().parent.parent
src = here.parent / "data" / "pydicom"
out = here / "corpus" / "dicom_folder"
out.mkdir(parents=True, exist_ok=True)


def moved(data: bytes, dz: float) -> bytes | None:
    """The slice with the z of its (explicit VR) ImagePositionPatient shifted by dz."""
    i = data.find(b"\x20\x00\x32\x00DS")
    if i < 0:
        return None
    n = int.from_bytes(data[i + 6 : i + 8], "little")
    xyz = data[i + 8 : i + 8 + n].decode().strip("\0 ").split("\\")
    xyz[2] = f"{float(xyz[2]) + dz:.3f}"
    text = "\\".join(xyz).encode()
    if len(text) % 2:
        text += b" "
    return data[:i + 6] + len(text).to_bytes(2, "little") + text + data[i + 8 + n :]


for name in ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm"]:
    one = (src / name).read_bytes()
    if moved(one, 0) is None:
        continue
    for k in (2, 3):
        series = SEP.join(moved(one, 2.5 * j) for j in range(k))
        (out / f"{Path(name).stem}-{k}.series").write_bytes(series)
print(f"wrote {len(list(out.iterdir()))} seeds in {out}")
