#!/usr/bin/env python3
"""Writes the tiny seed inputs under fuzz/seeds/ (run from anywhere; standard library only)."""
import gzip
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seeds")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


u16le = struct.pack("<8H", *range(0, 800, 100))
u16be = struct.pack(">8H", *range(0, 800, 100))

# ---------------------------------------------------------------- NRRD
geo = (b"space: left-posterior-superior\n"
       b"space directions: (1,0,0) (0,1.5,0) (0,0,2.5)\n"
       b"space origin: (-10,20.5,3)\n")
put("nrrd", "raw-u16.nrrd",
    b"NRRD0004\n# raw, 2x2x2\ntype: unsigned short\ndimension: 3\nsizes: 2 2 2\n"
    + geo + b"endian: little\nencoding: raw\n\n" + u16le)
put("nrrd", "gzip-f32-be.nrrd",
    b"NRRD0005\ntype: float\ndimension: 3\nsizes: 2 2 2\nspace: RAS\n"
    b"space directions: (0,-1,0) (1,0,0) none\nkinds: domain domain domain\n"
    b"endian: big\nencoding: gzip\nbyte skip: 0\n\n"
    + gzip.compress(struct.pack(">8f", *[0.5 * i for i in range(8)]), mtime=0))
put("nrrd", "ascii-spacings.nrrd",
    b"NRRD0002\ntype: short\ndimension: 3\nsizes: 2 2 2\nspacings: 0.5 -1 NaN\n"
    b"encoding: ascii\nmeta key:=meta value\n\n1 2 3 4\n5 -6 7.0 8\n")
# Detached style: the header names its data file (itself) and finds the data from the end.
put("nrrd", "detached-self.nrrd",
    b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nspacings: 1 1 1\n"
    b"encoding: raw\ndata file: input.nrrd\nbyte skip: -1\n\n" + bytes(range(8)))
put("nrrd", "linesk-vector.nrrd",
    b"NRRD0004\ntype: int16\ndimension: 4\nsizes: 2 2 2 1\n"
    b"kinds: vector domain domain domain\nendian: little\nencoding: raw\nline skip: 1\n"
    b"space origin: (0,0,0)\nspace: scanner-xyz\n"
    b"space directions: none (1,0,0) (0,1,0) (0,0,1)\n\nskipped line\n" + u16le)
put("nrrd", "2d-list.nrrd",
    b"NRRD0005\ntype: uchar\ndimension: 3\nsizes: 2 2 3\nspace: las-time\n"
    b"space directions: (1,0) (0,1) none\nspace origin: (1,2)\nencoding: raw\n\n"
    + bytes(range(12)))

# ------------------------------------------------------------ MetaImage
mha_head = (b"ObjectType = Image\nNDims = 3\nBinaryData = True\n"
            b"BinaryDataByteOrderMSB = False\nCompressedData = False\n"
            b"TransformMatrix = 1 0 0 0 0 -1 0 1 0\nOffset = -5 10.25 0\n"
            b"CenterOfRotation = 0 0 0\nAnatomicalOrientation = RSA\n"
            b"ElementSpacing = 0.5 0.5 2\nDimSize = 2 2 2\nElementType = MET_USHORT\n"
            b"ElementDataFile = LOCAL\n")
put("metaimage", "local-u16.mha", mha_head + u16le)
put("metaimage", "zlib-f32-msb.mha",
    b"ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_FLOAT\n"
    b"ElementByteOrderMSB = True\nCompressedData = True\nCompressedDataSize = 30\n"
    b"ElementSize = 1 1 1\nPosition = 1 2 3\nElementDataFile = Local\n"
    + zlib.compress(struct.pack(">8f", *range(8))))
put("metaimage", "tail-2d-channels.mha",
    b"NDims = 2\nDimSize = 2 2\nElementNumberOfChannels = 2\nElementType = MET_CHAR_ARRAY\n"
    b"ElementSpacing = -1 1\nRotation = 0 1 1 0\nOrigin = 3 4\nHeaderSize = -1\n"
    b"ElementDataFile = LOCAL\n" + bytes(range(8)))
put("metaimage", "4d-headersize.mha",
    b"ObjectType = Image\nNDims = 4\nDimSize = 2 2 2 2\nElementType = MET_UCHAR\n"
    b"TransformMatrix = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\nHeaderSize = 3\n"
    b"ElementDataFile = LOCAL\nxyz" + bytes(range(16)))


# ---------------------------------------------------------------- NIfTI
def nifti(endian="<", dims=(3, 2, 2, 2, 1, 1, 1, 1), datatype=512, bitpix=16,
          pixdim=(1, 1.5, 1.5, 3, 1, 1, 1, 1), vox_offset=352.0, slope=0.0, inter=0.0,
          qform=0, sform=1, quat=(0, 0, 0), qoff=(0, 0, 0), units=2, magic=b"n+1\0"):
    e = endian
    h = struct.pack(e + "i", 348)
    h += b"\0" * 10 + b"\0" * 18 + struct.pack(e + "i", 0) + struct.pack(e + "h", 0)
    h += b"r" + b"\0"  # regular, dim_info
    h += struct.pack(e + "8h", *dims)
    h += struct.pack(e + "3f", 0, 0, 0)  # intent_p1..3
    h += struct.pack(e + "h", 0)  # intent_code
    h += struct.pack(e + "2h", datatype, bitpix)
    h += struct.pack(e + "h", 0)  # slice_start
    h += struct.pack(e + "8f", *pixdim)
    h += struct.pack(e + "f", vox_offset)
    h += struct.pack(e + "2f", slope, inter)
    h += struct.pack(e + "h", 0) + b"\0" + bytes([units])  # slice_end, slice_code, xyzt_units
    h += struct.pack(e + "4f", 0, 0, 0, 0)  # cal_max, cal_min, slice_duration, toffset
    h += struct.pack(e + "2i", 0, 0)  # glmax, glmin
    h += b"fuzz seed".ljust(80, b"\0") + b"\0" * 24
    h += struct.pack(e + "2h", qform, sform)
    h += struct.pack(e + "6f", *quat, *qoff)
    h += struct.pack(e + "4f", -1.5, 0, 0, 10)
    h += struct.pack(e + "4f", 0, 1.5, 0, -20)
    h += struct.pack(e + "4f", 0, 0, 3, 5.5)
    h += b"\0" * 16 + magic
    assert len(h) == 348, len(h)
    return h


put("nifti", "u16-le.nii", nifti() + b"\0" * 4 + u16le)
put("nifti", "u16-be-qform.nii",
    nifti(">", qform=1, sform=0, quat=(0, 0, 1), qoff=(1, 2, 3), pixdim=(-1, 1, 1, 2, 1, 1, 1, 1))
    + b"\0" * 4 + u16be)
put("nifti", "f32-scl-4d.nii",
    nifti(dims=(4, 2, 2, 1, 2, 1, 1, 1), datatype=16, bitpix=32, slope=2.0, inter=-1.0,
          units=3, sform=0, qform=0)
    + b"\0" * 4 + struct.pack("<8f", *range(8)))
put("nifti", "u8-offset-gz.nii",
    gzip.compress(nifti(dims=(3, 2, 2, 2, 1, 1, 1, 1), datatype=2, bitpix=8, vox_offset=360.0)
                  + b"\0" * 12 + bytes(range(8)), mtime=0))

# Real headers carry UTF-8 text (descriptions, units): give the fuzzer multi-byte characters
# to splice into values, so string slicing at byte offsets gets exercised.
put("nrrd", "utf8-content.nrrd",
    "NRRD0004\n# Gehirn – café\ncontent: T1 µm résumé\ntype: uchar\ndimension: 3\n"
    "sizes: 2 2 2\nspace units: \"µm\" \"µm\" \"µm\"\nspace directions: (0.5,0,0) (0,0.5,0) (0,0,0.5)\n"
    "space origin: (0,0,0)\nencoding: raw\nnote:=naïve ✓\n\n".encode() + bytes(range(8)))
put("metaimage", "utf8-comment.mha",
    "ObjectType = Image\n# Gehirn – café µm\nNDims = 3\nDimSize = 2 2 2\n"
    "Comment = naïve ✓\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n".encode()
    + bytes(range(8)))
