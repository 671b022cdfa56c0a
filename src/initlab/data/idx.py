"""A small reader (and writer, for tests) of the IDX format used by MNIST and Fashion-MNIST.

Layout (all big-endian): two zero bytes, one dtype code, one byte with the number of
dimensions d, then d uint32 sizes, then the values in C order.  We check every part
and the exact payload length, so a truncated download fails loudly here instead of
turning into a reshape error (or silently wrong pixels) deep inside a training run.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from ..errors import InitError

# dtype code -> big-endian numpy dtype (the codes of the IDX specification)
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_DTYPES.items()}


def _read_bytes(path: str) -> bytes:
    # Decide gzip by the magic bytes, not the file name: people gunzip and keep names.
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (EOFError, OSError, zlib.error) as e:  # truncated or damaged gzip stream
        raise InitError(
            f"read_idx: path={path!r} is not a readable gzip file ({e}); expected a complete IDX "
            "file (.gz or plain). Fix: download it again or reinstall the package that "
            "provides it (e.g. `apt-get install --reinstall dataset-fashion-mnist`).") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a native-endian numpy array."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InitError(f"read_idx: path={path!r} does not exist; expected an IDX file. "
                        "Fix: pass the path of an existing *-ubyte or *-ubyte.gz file.")
    raw = _read_bytes(path)

    def corrupt(why: str) -> InitError:
        return InitError(f"read_idx: path={path!r} is not a valid IDX file: {why}. "
                         "Fix: the file is corrupt or truncated; download it again or reinstall "
                         "the package that provides it.")

    if len(raw) < 4:
        raise corrupt(f"it has {len(raw)} bytes, fewer than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise corrupt(f"magic number starts with {raw[0]:#04x} {raw[1]:#04x}, expected 0x00 0x00")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        allowed = ", ".join(f"{c:#04x}" for c in IDX_DTYPES)
        raise corrupt(f"dtype code {code:#04x} is unknown (allowed: {allowed})")
    if ndim == 0:
        raise corrupt("it declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise corrupt(f"header needs {header} bytes for {ndim} dimensions but the file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize   # Python ints: an int64 product can wrap to 0 (hostile headers)
    got = len(raw) - header
    if got != expected:
        kind = "truncated" if got < expected else "longer than declared"
        raise corrupt(f"{kind}: dims {dims} of {dtype.name} need {expected} data bytes, found {got}")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # native order, writable


def write_idx(path: str | os.PathLike, array, *, compress: bool | None = None) -> str:
    """Write `array` as an IDX file (gzip when compress is True or the name ends in .gz)."""
    path = os.fspath(path)
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str[1:]
    if key not in _CODE_OF:
        raise InitError(f"write_idx: array dtype {arr.dtype} is not allowed; expected one of "
                        "uint8, int8, int16, int32, float32, float64. Fix: cast with .astype(np.uint8).")
    if arr.ndim == 0 or arr.ndim > 255:
        raise InitError(f"write_idx: array.ndim={arr.ndim} is not allowed; expected 1..255. "
                        "Fix: reshape the array.")
    code = _CODE_OF[key]
    blob = (bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
            + arr.astype(IDX_DTYPES[code], copy=False).tobytes(order="C"))
    if compress is None:
        compress = path.endswith(".gz")
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(blob)
    return path
