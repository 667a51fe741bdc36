"""The result channel's wire format: length-prefixed records of arrays, and a parser that cannot raise.

Student code runs in a child that we assume fully compromised, so what comes back from it is only
bytes, never objects: no pickle, no repr, no JSON with student-chosen structure. Each test case
produces one record on a dedicated pipe (fd 3 in the child, not stdout):

    result record  b"R"  u8 count  then count arrays
    array          u8 dtype  u8 ndim  ndim x u64 dims  raw little-endian data (C order)
    error record   b"E"  u16 len + exception type name  u32 len + traceback text (UTF-8)

All integers are little-endian. A function's results must use dtype code 1 (float64); a case
script's observations are its JSON bytes as one array of dtype code 4 (uint8), and nothing else.
The same layout carries the test-case inputs into the sandbox, where every dtype is allowed
(a case script is its JSON bytes as uint8: one byte per entry, not eight). Every count and size is
bounded. `parse_stream` returns the records it could read plus how the stream ended: "clean" (at a
record boundary), "truncated" (ran out of bytes inside a record, e.g. the child was killed while
writing) or "invalid" (anything else: unknown kind, wrong dtype, too many dimensions, a size over
the bounds...). It never raises; the caller decides what a bad stream means for the grade.

This module is also shipped, as source text, into the sandbox (see server.py), so it imports
only the standard library and NumPy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

KIND_RESULT = 0x52  # "R"
KIND_ERROR = 0x45  # "E"

DTYPE_F64 = 1
DTYPE_I64 = 2
DTYPE_BOOL = 3
DTYPE_U8 = 4  # bytes: a case script's JSON, and its observations
_WIRE_DTYPES = {
    DTYPE_F64: np.dtype("<f8"),
    DTYPE_I64: np.dtype("<i8"),
    DTYPE_BOOL: np.dtype("|b1"),
    DTYPE_U8: np.dtype("|u1"),
}
_NATIVE = {DTYPE_F64: np.float64, DTYPE_I64: np.int64, DTYPE_BOOL: np.bool_, DTYPE_U8: np.uint8}
RESULT_DTYPES = frozenset({DTYPE_F64})  # what a function's outputs may be
SCRIPT_RESULT_DTYPES = frozenset({DTYPE_U8})  # what a case script's observations may be
INPUT_DTYPES = frozenset(_WIRE_DTYPES)

MAX_ARRAYS = 32  # arrays in one record (outputs of one call / arguments of one case)
MAX_NDIM = 8
MAX_NAME = 200  # bytes of an exception type name
MAX_TEXT = 64 * 1024  # bytes of a traceback
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True)
class ArraysRecord:
    """One call's outputs (or one case's inputs): fresh, writable, base ndarrays."""

    arrays: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class ErrorRecord:
    """The call raised: the exception type's name and the (already filtered) traceback text."""

    name: str
    text: str


@dataclass(frozen=True)
class Stream:
    """What parse_stream read: the complete records, how the bytes ended, and why if not clean."""

    records: tuple[ArraysRecord | ErrorRecord, ...]
    end: str  # "clean" | "truncated" | "invalid"
    problem: str = ""


class _Truncated(Exception):
    pass


class _Invalid(Exception):
    pass


# --- encoding (used by the harness in the child for results, by the parent for inputs) ---------


def encode_arrays(arrays, *, dtypes: frozenset[int] = RESULT_DTYPES) -> bytes:
    """One record for these arrays, each of a dtype in `dtypes` (a function's results: float64;
    inputs: INPUT_DTYPES; a case script's observations: SCRIPT_RESULT_DTYPES)."""
    arrays = list(arrays)
    if len(arrays) > MAX_ARRAYS:
        raise ValueError(f"at most {MAX_ARRAYS} arrays per record, got {len(arrays)}")
    parts = [bytes((KIND_RESULT, len(arrays)))]
    for a in arrays:
        code = _dtype_code(a.dtype)
        if code not in dtypes:
            raise ValueError(f"dtype {a.dtype} is not allowed in this record")
        if a.ndim > MAX_NDIM:
            raise ValueError(f"at most {MAX_NDIM} dimensions, got {a.ndim}")
        parts.append(bytes((code, a.ndim)))
        parts.extend(_U64.pack(int(n)) for n in a.shape)
        parts.append(np.ascontiguousarray(a, dtype=_WIRE_DTYPES[code]).tobytes())
    return b"".join(parts)


def encode_bytes(payload: bytes) -> bytes:
    """The record encode_arrays makes of `payload` as one uint8 array (a case script, or its
    observations), built without NumPy: in a fresh child each NumPy call's first touch of the
    server's memory is a copy-on-write page fault."""
    return b"".join((bytes((KIND_RESULT, 1, DTYPE_U8, 1)), _U64.pack(len(payload)), payload))


def decode_bytes(data, count: int) -> list[bytes]:
    """The payloads of `count` encode_bytes records filling `data` exactly (a script job's cases,
    from the parent), without NumPy. Raises ValueError on anything else."""
    view = memoryview(data).cast("B")
    payloads, pos = [], 0
    for _ in range(count):
        if bytes(view[pos : pos + 4]) != bytes((KIND_RESULT, 1, DTYPE_U8, 1)) or pos + 12 > len(view):
            raise ValueError(f"not a bytes record at offset {pos}")
        (size,) = _U64.unpack_from(view, pos + 4)
        pos += 12 + size
        if pos > len(view):
            raise ValueError("bytes record cut short")
        payloads.append(bytes(view[pos - size : pos]))
    if pos != len(view):
        raise ValueError("bytes after the last record")
    return payloads


def encode_error(name: str, text: str) -> bytes:
    """One error record; name and text are cut to their bounds (UTF-8, never mid-character)."""
    raw_name = _cut_utf8(str(name), MAX_NAME)
    raw_text = _cut_utf8(str(text), MAX_TEXT)
    return b"".join(
        (
            bytes((KIND_ERROR,)),
            _U16.pack(len(raw_name)),
            raw_name,
            _U32.pack(len(raw_text)),
            raw_text,
        )
    )


def _dtype_code(dtype: np.dtype) -> int:
    for code, wire in _WIRE_DTYPES.items():
        if dtype == wire or dtype == _NATIVE[code]:
            return code
    raise ValueError(f"unsupported dtype {dtype} (float64, int64, bool and uint8 only)")


def _cut_utf8(text: str, limit: int) -> bytes:
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return raw
    return raw[:limit].decode("utf-8", "ignore").encode("utf-8")


# --- parsing -----------------------------------------------------------------------------------


def parse_stream(
    data,
    *,
    max_records: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    dtypes: frozenset[int] = RESULT_DTYPES,
) -> Stream:
    """Read records from `data` (bytes-like). Never raises: any failure is an "invalid" stream.

    More than `max_records` records, or more than `max_bytes` of data, is invalid.
    """
    try:
        view = memoryview(data).cast("B")
        if len(view) > max_bytes:
            return Stream((), "invalid", f"{len(view)} bytes is over the {max_bytes} byte bound")
        return _parse(view, max_records, max_bytes, dtypes)
    except Exception as exc:  # the parser must not raise, whatever the bytes (or a bug) do
        return Stream((), "invalid", f"unreadable stream ({type(exc).__name__})")


def skip_records(
    data,
    count: int,
    *,
    start: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    dtypes: frozenset[int] = RESULT_DTYPES,
) -> tuple[str, int, int]:
    """Pass over up to `count` result records of `data` from offset `start` (a record boundary),
    checking them as parse_stream would but building nothing: (state, offset after the last
    complete one, how many were complete), state "complete" (all `count`), "truncated" (the
    bytes end inside one) or "invalid". Never raises; cheap enough to call on every read."""
    done, pos = 0, start
    try:
        view = memoryview(data).cast("B")
        while done < count:
            _, pos = _record(view, pos, max_bytes, dtypes, build=False)
            done += 1
        return "complete", pos, done
    except _Truncated:
        return "truncated", pos, done
    except Exception:  # _Invalid, or anything the bytes provoke: the parser must not raise
        return "invalid", pos, done


def _parse(view: memoryview, max_records: int, max_bytes: int, dtypes: frozenset[int]) -> Stream:
    records: list[ArraysRecord | ErrorRecord] = []
    pos = 0
    size = len(view)
    while pos < size:
        if len(records) >= max_records:
            return Stream(tuple(records), "invalid", f"more than {max_records} records")
        try:
            record, pos = _record(view, pos, max_bytes, dtypes)
        except _Truncated as exc:
            return Stream(tuple(records), "truncated", str(exc) or "stream ends inside a record")
        except _Invalid as exc:
            return Stream(tuple(records), "invalid", str(exc))
        records.append(record)
    return Stream(tuple(records), "clean")


def _take(view: memoryview, pos: int, n: int) -> int:
    """Position after n more bytes, or _Truncated when the stream has fewer."""
    if n < 0 or pos + n > len(view):
        raise _Truncated(f"stream ends inside a record (needs {n} bytes at offset {pos})")
    return pos + n


def _record(view: memoryview, pos: int, max_bytes: int, dtypes: frozenset[int], build: bool = True):
    """(the record, the offset after it); with build=False the same checks, and None."""
    end = _take(view, pos, 1)
    kind = view[pos]
    if kind == KIND_ERROR:
        return _error_record(view, end, build)
    if kind != KIND_RESULT:
        raise _Invalid(f"unknown record kind 0x{kind:02x} at offset {pos}")
    pos = end
    end = _take(view, pos, 1)
    count = view[pos]
    if count > MAX_ARRAYS:
        raise _Invalid(f"{count} arrays in one record (at most {MAX_ARRAYS})")
    pos = end
    arrays = []
    for _ in range(count):
        array, pos = _array(view, pos, max_bytes, dtypes, build)
        arrays.append(array)
    return (ArraysRecord(tuple(arrays)) if build else None), pos


def _array(view: memoryview, pos: int, max_bytes: int, dtypes: frozenset[int], build: bool = True):
    end = _take(view, pos, 2)
    code, ndim = view[pos], view[pos + 1]
    if code not in dtypes:
        raise _Invalid(f"dtype code {code} not allowed here (allowed: {sorted(dtypes)})")
    if ndim > MAX_NDIM:
        raise _Invalid(f"{ndim} dimensions (at most {MAX_NDIM})")
    pos = end
    end = _take(view, pos, 8 * ndim)
    shape = tuple(_U64.unpack_from(view, pos + 8 * i)[0] for i in range(ndim))
    pos = end
    itemsize = _WIRE_DTYPES[code].itemsize
    count = 1
    for n in shape:
        count *= n
        # over the bound: stop before the product grows unbounded; a dimension over it is refused
        # even in an empty array (NumPy cannot make a 0 x 2**62 array: the gate's check, which
        # builds nothing, passed it and the parser then refused it)
        if count * itemsize > max_bytes or n > max_bytes:
            raise _Invalid(f"array of shape {shape} is over the {max_bytes} byte bound")
    nbytes = count * itemsize
    end = _take(view, pos, nbytes)
    if not build:
        return None, end
    out = np.empty(shape, dtype=_NATIVE[code])
    if count:
        out.reshape(-1)[...] = np.frombuffer(
            view, dtype=_WIRE_DTYPES[code], count=count, offset=pos
        )
    return out, end


def _error_record(view: memoryview, pos: int, build: bool = True):
    end = _take(view, pos, 2)
    (name_len,) = _U16.unpack_from(view, pos)
    if name_len > MAX_NAME:
        raise _Invalid(f"exception name of {name_len} bytes (at most {MAX_NAME})")
    pos = end
    end = _take(view, pos, name_len)
    name = bytes(view[pos:end]).decode("utf-8", "replace")
    pos = end
    end = _take(view, pos, 4)
    (text_len,) = _U32.unpack_from(view, pos)
    if text_len > MAX_TEXT:
        raise _Invalid(f"traceback of {text_len} bytes (at most {MAX_TEXT})")
    pos = end
    end = _take(view, pos, text_len)
    if not build:
        return None, end
    text = bytes(view[pos:end]).decode("utf-8", "replace")
    return ErrorRecord(name, text), end
