"""The IDX reader on small files written here: gzip and plain, several dtypes, and damage."""
import gzip

import numpy as np
import pytest

from initlab.data import read_idx, write_idx
from initlab.errors import InitError


@pytest.mark.parametrize("gz", [True, False])
def test_uint8_images_and_labels_round_trip(tmp_path, gz):
    g = np.random.default_rng(1)
    images = g.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = g.integers(0, 10, size=7, dtype=np.uint8)
    ext = ".gz" if gz else ""
    pi = write_idx(tmp_path / f"img-idx3-ubyte{ext}", images)
    pl = write_idx(tmp_path / f"lab-idx1-ubyte{ext}", labels)
    with open(pi, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == gz
    got_i, got_l = read_idx(pi), read_idx(pl)
    assert got_i.dtype == np.uint8 and got_i.shape == (7, 28, 28)
    assert got_l.dtype == np.uint8 and got_l.shape == (7,)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)


def test_header_is_the_documented_layout(tmp_path):
    p = write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8).reshape(2, 3))
    raw = open(p, "rb").read()
    assert raw[:4] == bytes([0, 0, 0x08, 2])                      # magic: 0 0 dtype ndim
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert raw[12:] == bytes(range(6))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_dtypes_are_big_endian_and_round_trip(tmp_path, dtype):
    a = (np.arange(24) - 12).astype(dtype).reshape(2, 3, 4)
    got = read_idx(write_idx(tmp_path / "a.gz", a))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    p = write_idx(tmp_path / "labels-no-gz-suffix", a, compress=True)
    np.testing.assert_array_equal(read_idx(p), a)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file_raises_initerror(tmp_path, gz):
    p = tmp_path / "full"
    write_idx(p, np.zeros((5, 28, 28), np.uint8), compress=False)
    blob = open(p, "rb").read()[:-100]                        # cut the payload short
    bad = tmp_path / ("cut.gz" if gz else "cut")
    with (gzip.open(bad, "wb") if gz else open(bad, "wb")) as f:
        f.write(blob)
    with pytest.raises(InitError, match=r"truncated.*need 3920 data bytes, found 3820"):
        read_idx(bad)


def test_truncated_gzip_stream_raises_initerror(tmp_path):
    p = write_idx(tmp_path / "a.gz", np.zeros((50, 28, 28), np.uint8))
    blob = open(p, "rb").read()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InitError, match="not a readable gzip file"):
        read_idx(cut)


@pytest.mark.parametrize("blob, why", [
    (b"\x00\x00", "fewer than the 4-byte magic"),
    (b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "magic number starts with"),
    (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00", "dtype code 0x07 is unknown"),
    (b"\x00\x00\x08\x03" + (1).to_bytes(4, "big"), "header needs 16 bytes"),
    (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"\x00\x00\x00", "longer than declared"),
    # four dims of 2^16: the int64 product wraps to 0, which an empty payload matched (then a reshape error)
    (b"\x00\x00\x08\x04" + (2 ** 16).to_bytes(4, "big") * 4, "truncated: .* need 18446744073709551616 data bytes"),
    (b"\x00\x00\x0e\x02" + (2 ** 31).to_bytes(4, "big") * 2, "truncated: .* need 36893488147419103232 data bytes"),
])
def test_corrupt_headers_raise_initerror_naming_the_file(tmp_path, blob, why):
    p = tmp_path / "bad-idx"
    p.write_bytes(blob)
    with pytest.raises(InitError, match=why) as e:
        read_idx(p)
    assert str(p) in str(e.value) and "Fix:" in str(e.value)


def test_missing_file_raises_initerror(tmp_path):
    with pytest.raises(InitError, match="does not exist"):
        read_idx(tmp_path / "nope-idx1-ubyte")
