"""The result channel's parser: exact round trips, and it never raises and rejects garbage.

Pure tests (no bubblewrap needed).
"""

from __future__ import annotations

import marshal
import struct
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.sandbox import frames
from autograder.sandbox.harness import decode_job, encode_job

ENDS = {"clean", "truncated", "invalid"}


def parse(data, n=10, **kw):
    return frames.parse_stream(data, max_records=n, **kw)


def assert_sane(stream: frames.Stream, max_records: int) -> None:
    assert isinstance(stream, frames.Stream)
    assert stream.end in ENDS
    assert len(stream.records) <= max_records
    for record in stream.records:
        if isinstance(record, frames.ArraysRecord):
            for a in record.arrays:
                assert type(a) is np.ndarray and a.dtype == np.float64
                assert a.base is None and a.flags.writeable and a.flags.c_contiguous
        else:
            assert isinstance(record, frames.ErrorRecord)
            assert isinstance(record.name, str) and isinstance(record.text, str)


float_arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
)


# --- round trips --------------------------------------------------------------------------------


@given(st.lists(st.lists(float_arrays, max_size=4), max_size=5))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_is_bit_exact(records):
    data = b"".join(frames.encode_arrays(arrays) for arrays in records)
    stream = parse(data, n=len(records))
    assert stream.end == "clean" and stream.problem == ""
    assert len(stream.records) == len(records)
    for got, sent in zip(stream.records, records, strict=True):
        assert len(got.arrays) == len(sent)
        for g, s in zip(got.arrays, sent, strict=True):
            assert g.shape == s.shape
            # bit for bit: NaN payloads and -0.0 included
            assert g.tobytes() == np.ascontiguousarray(s).tobytes()
    assert_sane(stream, len(records))


@given(st.text(max_size=300), st.text(max_size=3000))
def test_error_record_round_trip(name, text):
    stream = parse(frames.encode_error(name, text), n=1)
    assert stream.end == "clean"
    (record,) = stream.records
    assert isinstance(record, frames.ErrorRecord)
    assert record.text == text.encode("utf-8", "replace").decode("utf-8", "replace")
    assert len(record.name.encode()) <= frames.MAX_NAME


def test_error_text_is_cut_to_its_bound_on_a_character_boundary():
    stream = parse(frames.encode_error("E", "é" * frames.MAX_TEXT), n=1)
    assert stream.end == "clean"
    assert len(stream.records[0].text.encode()) <= frames.MAX_TEXT


def test_inputs_carry_int64_bool_and_uint8_but_results_do_not():
    arrays = [np.arange(3, dtype=np.int64), np.array([True, False]), np.ones((2, 2)), np.frombuffer(b"{}", np.uint8)]
    data = frames.encode_arrays(arrays, dtypes=frames.INPUT_DTYPES)
    inputs = parse(data, dtypes=frames.INPUT_DTYPES)
    assert inputs.end == "clean"
    got = inputs.records[0].arrays
    assert [a.dtype for a in got] == [np.int64, np.bool_, np.float64, np.uint8]
    assert all(np.array_equal(g, a) for g, a in zip(got, arrays, strict=True))
    results = parse(data)  # the result parser allows float64 only
    assert results.end == "invalid" and "dtype code 2" in results.problem


def test_a_case_scripts_observations_are_bytes_and_nothing_else():
    """A script job's results are its observations' JSON bytes (uint8); a float64 array there,
    or a uint8 one among a function's float64 results, makes the stream invalid."""
    observations = frames.encode_arrays([np.frombuffer(b"[]", np.uint8)], dtypes=frames.SCRIPT_RESULT_DTYPES)
    script = parse(observations, dtypes=frames.SCRIPT_RESULT_DTYPES)
    assert script.end == "clean" and script.records[0].arrays[0].tobytes() == b"[]"
    assert parse(observations).end == "invalid"  # not a function's result
    assert parse(frames.encode_arrays([np.ones(2)]), dtypes=frames.SCRIPT_RESULT_DTYPES).end == "invalid"
    assert frames.skip_records(observations, 1, dtypes=frames.SCRIPT_RESULT_DTYPES)[0] == "complete"
    assert frames.skip_records(observations, 1)[0] == "invalid"
    with pytest.raises(ValueError):
        frames.encode_arrays([np.frombuffer(b"[]", np.uint8)])  # results are float64 by default


def test_an_empty_array_with_a_huge_dimension_is_invalid_to_the_gate_and_the_parser_alike():
    """skip_records (the gate's check, building nothing) passed a 0 x 2**62 array that the parser
    then refused (NumPy cannot make it): the gate opened on a stream the results called malformed."""
    record = bytes((frames.KIND_RESULT, 1, frames.DTYPE_F64, 2)) + struct.pack("<QQ", 0, 2**62)
    assert frames.skip_records(record, 1)[0] == "invalid"
    assert parse(record).end == "invalid"
    small = bytes((frames.KIND_RESULT, 1, frames.DTYPE_F64, 2)) + struct.pack("<QQ", 0, 3)
    assert frames.skip_records(small, 1)[0] == "complete" and parse(small).records[0].arrays[0].shape == (0, 3)


def test_bytes_records_are_uint8_arrays_made_and_read_without_numpy():
    """A script job's cases and observations: encode_bytes makes the record encode_arrays would,
    decode_bytes reads a run of them back and refuses anything else."""
    payloads = [b'{"name":"a"}', b"", bytes(range(256))]
    records = [frames.encode_bytes(p) for p in payloads]
    assert records == [frames.encode_arrays([np.frombuffer(p, np.uint8)], dtypes=frames.INPUT_DTYPES) for p in payloads]
    assert frames.decode_bytes(b"".join(records), 3) == payloads
    parsed = parse(b"".join(records), dtypes=frames.SCRIPT_RESULT_DTYPES)
    assert [r.arrays[0].tobytes() for r in parsed.records] == payloads
    for bad in (
        b"".join(records)[:-1],  # cut short
        b"".join(records) + b"x",  # something after the last record
        frames.encode_arrays([np.ones(2)]),  # not bytes
        frames.encode_arrays([np.frombuffer(b"ab", np.uint8)] * 2, dtypes=frames.INPUT_DTYPES),  # two arrays
    ):
        with pytest.raises(ValueError):
            frames.decode_bytes(bad, 3 if len(bad) > 40 else 1)


def test_job_round_trip():
    cases = [[np.ones(2), np.arange(3)], [np.array(True)]]
    encoded = [frames.encode_arrays(c, dtypes=frames.INPUT_DTYPES) for c in cases]
    code, entry, got, gated, compiled = decode_job(encode_job("def f(x):\n    return x  # é\n", "f", encoded, gated=4))
    assert code.endswith("# é\n") and entry == "f" and gated == 4 and compiled is None
    assert [[a.tolist() for a in c] for c in got] == [[a.tolist() for a in c] for c in cases]


def test_a_job_carries_the_compiled_code_only_to_the_same_python():
    """The parent's compiled code (marshal) rides along with the source; a child of another
    Python version (a marshal format it may not read) gets None and compiles the source."""
    source = "def f(x):\n    return x\n"
    blob = marshal.dumps(compile(source, "<submission>", "exec", dont_inherit=True))
    encoded = [frames.encode_arrays([np.ones(2)], dtypes=frames.INPUT_DTYPES)]
    job = encode_job(source, "f", encoded, compiled=blob)
    code, entry, got, gated, compiled = decode_job(job)
    assert (code, entry, gated, compiled) == (source, "f", 0, blob) and got[0][0].tolist() == [1.0, 1.0]
    other_python = bytearray(job)
    other_python[20:24] = struct.pack("<I", sys.hexversion ^ 0x0100)  # the header's version field
    code, _entry, got, _gated, compiled = decode_job(bytes(other_python))
    assert code == source and compiled is None and got[0][0].tolist() == [1.0, 1.0]


def test_skip_records_finds_where_the_first_records_end_and_resumes():
    """The server opens the gate to hidden inputs once the visible cases' records are complete;
    it checks each new read from the last complete record on."""
    first, second = frames.encode_arrays([np.ones(2)]), frames.encode_error("ValueError", "tb")
    data = first + second + frames.encode_arrays([np.zeros(1)])
    assert frames.skip_records(data, 2) == ("complete", len(first) + len(second), 2)
    assert frames.skip_records(data[: len(first) + 3], 2) == ("truncated", len(first), 1)
    assert frames.skip_records(data, 1, start=len(first)) == ("complete", len(first) + len(second), 1)
    assert frames.skip_records(first + b"Z" + second, 2) == ("invalid", len(first), 1)
    assert frames.skip_records(first + frames.encode_arrays([np.ones(1, dtype=np.int64)], dtypes=frames.INPUT_DTYPES), 2)[0] == "invalid"
    assert frames.skip_records(b"", 0) == ("complete", 0, 0)


def test_encoder_refuses_what_the_parser_would_reject():
    with pytest.raises(ValueError):
        frames.encode_arrays([np.ones(1)] * (frames.MAX_ARRAYS + 1))
    with pytest.raises(ValueError):
        frames.encode_arrays([np.ones((1,) * (frames.MAX_NDIM + 1))])
    with pytest.raises(ValueError):
        frames.encode_arrays([np.ones(2, dtype=np.float32)])  # results are float64, no silent cast
    with pytest.raises(ValueError):
        frames.encode_arrays([np.array(["a"])], dtypes=frames.INPUT_DTYPES)


# --- never raises ---------------------------------------------------------------------------------


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=5))
@settings(max_examples=400)
def test_parser_never_raises_on_arbitrary_bytes(data, max_records):
    assert_sane(parse(data, n=max_records), max_records)


@given(
    st.lists(st.lists(float_arrays, max_size=3), min_size=1, max_size=3),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=6
    ),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_parser_never_raises_on_corrupted_valid_streams(records, flips):
    data = bytearray(b"".join(frames.encode_arrays(arrays) for arrays in records))
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    assert_sane(parse(bytes(data), n=len(records)), len(records))


@given(st.lists(st.lists(float_arrays, max_size=3), min_size=1, max_size=3), st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_every_prefix_of_a_valid_stream_is_clean_or_truncated(records, data):
    blobs = [frames.encode_arrays(arrays) for arrays in records]
    stream_bytes = b"".join(blobs)
    cut = data.draw(st.integers(min_value=0, max_value=len(stream_bytes)))
    boundaries = {sum(len(b) for b in blobs[:i]) for i in range(len(blobs) + 1)}
    stream = parse(stream_bytes[:cut], n=len(records))
    assert stream.end == ("clean" if cut in boundaries else "truncated")


def test_parser_survives_non_bytes_and_odd_buffers():
    for data in (None, 42, "R\x01", [1, 2], np.zeros(3)):
        assert_sane(parse(data), 10)  # a numpy buffer is bytes-like: parsed, not trusted


# --- garbage is rejected --------------------------------------------------------------------------


def header(count=1):
    return bytes((frames.KIND_RESULT, count))


def array_head(shape, code=frames.DTYPE_F64):
    return bytes((code, len(shape))) + b"".join(struct.pack("<Q", n) for n in shape)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"X", "unknown record kind"),
        (b"\x00" * 16, "unknown record kind"),
        (b"pickle\x80\x04", "unknown record kind"),
        (header(frames.MAX_ARRAYS + 1), "arrays in one record"),
        (header() + array_head((2,), code=2) + b"\x00" * 16, "dtype code 2"),
        (header() + array_head((2,), code=0) + b"\x00" * 16, "dtype code 0"),
        (header() + bytes((1, frames.MAX_NDIM + 1)), "dimensions"),
        (header() + array_head((1 << 62, 1 << 62)), "byte bound"),
        (header() + array_head((1 << 40,)), "byte bound"),
        (bytes((frames.KIND_ERROR,)) + struct.pack("<H", frames.MAX_NAME + 1), "exception name"),
        (
            bytes((frames.KIND_ERROR, 1, 0)) + b"E" + struct.pack("<I", frames.MAX_TEXT + 1),
            "traceback of",
        ),
    ],
)
def test_garbage_is_invalid(data, problem):
    stream = parse(data, max_bytes=1 << 20)
    assert stream.end == "invalid"
    assert problem in stream.problem
    assert stream.records == ()


def test_more_records_than_cases_is_invalid():
    one = frames.encode_arrays([np.ones(1)])
    stream = parse(one * 3, n=2)
    assert stream.end == "invalid" and "more than 2 records" in stream.problem
    assert len(stream.records) == 2  # read, but the caller treats the whole stream as malformed


def test_stream_over_the_byte_bound_is_invalid_before_any_parsing():
    data = frames.encode_arrays([np.ones(1000)])
    assert parse(data, max_bytes=len(data) - 1).end == "invalid"
    assert parse(data, max_bytes=len(data)).end == "clean"


def test_garbage_after_valid_records_is_invalid():
    stream = parse(frames.encode_arrays([np.ones(1)]) + b"junk", n=5)
    assert stream.end == "invalid" and len(stream.records) == 1


def test_invalid_utf8_in_an_error_record_is_replaced_not_raised():
    data = (
        bytes((frames.KIND_ERROR,))
        + struct.pack("<H", 2)
        + b"\xff\xfe"
        + struct.pack("<I", 3)
        + b"\xc3\x28!"
    )
    stream = parse(data, n=1)
    assert stream.end == "clean"
    assert "\ufffd" in stream.records[0].name


def test_a_parsed_array_owns_fresh_memory():
    data = bytearray(frames.encode_arrays([np.arange(4.0)]))
    (array,) = parse(bytes(data), n=1).records[0].arrays
    data[-8:] = b"\x00" * 8  # the sender's buffer changing later changes nothing
    assert array.tolist() == [0.0, 1.0, 2.0, 3.0]
    array[0] = 9.0  # and it is an ordinary writable array
