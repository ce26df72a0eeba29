"""Writes small safetensors files for the integration tests (numpy arrays)."""
import json
import os
import struct

import numpy as np


def write(path, tensors):
    """tensors: [(name, array, dtype name)], stored in that order."""
    hdr, off, blobs = {}, 0, []
    for name, a, dt in tensors:
        b = a.tobytes()
        hdr[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16(a):
    """float32 -> bfloat16 bits, rounding to nearest even as torch does (NaN kept quiet)."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r
