"""The same values in other memory layouts, for the layout tests and the fuzz test.

Every function returns a new array equal (elementwise, ``np.array_equal``) to its argument
but laid out differently in memory.  The design contract says each of these is valid input
and gives the native answer: non-native byte order, misaligned, read-only and
non-contiguous arrays.
"""
import numpy as np


def native(a):
    return np.ascontiguousarray(a)


def big_endian(a):
    """The values with big-endian byte order (``'>f8'``, ``'>i8'`` ...); bools unchanged."""
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder(">"))


def unaligned(a):
    """A C-contiguous copy whose data starts one byte into its buffer (``flags.aligned`` is
    False for any dtype wider than a byte)."""
    a = np.asarray(a)
    buf = np.frombuffer(bytearray(a.nbytes + 1), dtype=a.dtype, offset=1, count=a.size)
    buf = buf.reshape(a.shape)
    buf[...] = a
    return buf


def big_endian_unaligned(a):
    return unaligned(big_endian(a))


def read_only(a):
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def strided(a):
    """A view with a step of 2 along the last axis (not C- or F-contiguous)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def reversed_view(a):
    """A view with negative strides along every axis."""
    a = np.asarray(a)
    flipped = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
    return flipped[(slice(None, None, -1),) * a.ndim]


def fortran(a):
    """Fortran order (the transpose of a C-contiguous array)."""
    return np.asfortranarray(a)


def transposed_view(a):
    """``x.T`` of a C-contiguous transpose: same values, Fortran-ordered view."""
    a = np.asarray(a)
    return np.ascontiguousarray(a.T).T


LAYOUTS = {
    "native": native,
    "big-endian": big_endian,
    "unaligned": unaligned,
    "big-endian-unaligned": big_endian_unaligned,
    "read-only": read_only,
    "strided": strided,
    "reversed": reversed_view,
    "fortran": fortran,
    "transposed": transposed_view,
}

#: Layouts of a buffer passed as ``out=``: the library must either fill it correctly or raise
#: a ValueError naming ``out`` (the contract asks for a C-contiguous writable buffer of the
#: right shape and dtype; byte order and alignment are not mentioned).
OUT_LAYOUTS = {
    "native": lambda shape, dtype: np.full(shape, np.nan, dtype),
    "big-endian": lambda shape, dtype: np.full(shape, np.nan, np.dtype(dtype).newbyteorder(">")),
    "unaligned": lambda shape, dtype: unaligned(np.full(shape, np.nan, dtype)),
    "big-endian-unaligned": lambda shape, dtype: unaligned(
        np.full(shape, np.nan, np.dtype(dtype).newbyteorder(">"))),
}


def same_bits(a, b):
    """Equal values, NaN where NaN (bitwise for floats of one dtype up to byte order)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True)
                    and np.array_equal(np.signbit(a), np.signbit(b)))
    return bool(np.array_equal(a, b))
