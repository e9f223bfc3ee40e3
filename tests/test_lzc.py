"""Tests of brainlz.lzc: exact LZ76 phrase counts, batching, input checking and normalisation.

The reference for exactness is an independent brute-force implementation of the *definition* written
below with Python string search (not the bitset algorithm of brainlz.lzc), plus the shared test vectors.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from brainlz import lzc as lzc_module
from brainlz.errors import ParameterError
from brainlz.lzc import lz76, lzc

REPO = Path(__file__).resolve().parents[1]
# a copy of ../shared/reference/lz76_vectors.json, kept in the repository so that every checkout tests it
VECTORS = REPO / "tests" / "data" / "lz76_vectors.json"

needs_c = pytest.mark.skipif(
    lzc_module.BACKEND != "c", reason="compiled extension brainlz._lz76 not built (pure-Python backend active)"
)


# ------------------------------------------------------------------------------------------------------
# independent reference: the definition, by string search


def phrases_by_definition(s: str) -> list[str]:
    """LZ76 parse of ``s`` straight from the definition.

    Each phrase is the longest prefix of the rest that occurs starting at an earlier position (the earlier
    occurrence may overlap the phrase), plus one symbol; an incomplete last phrase counts.
    """
    phrases = []
    n = len(s)
    p = 0
    while p < n:
        length = 0  # s[p:p+length] occurs starting at some q < p
        # s[p:p+length+1] starts at some q <= p-1  <=>  it lies inside s[0:p+length]
        while p + length < n and s.find(s[p : p + length + 1], 0, p + length) != -1:
            length += 1
        phrases.append(s[p : p + length + 1])  # copy plus one symbol, or the incomplete rest
        p += length + 1
    return phrases


def lz76_by_definition(s: str) -> int:
    return len(phrases_by_definition(s))


def to_str(bits) -> str:
    return "".join("1" if b else "0" for b in np.asarray(bits).ravel())


def to_array(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8) - ord("0")


def random_strings(seed: int, count: int, max_len: int = 300) -> list[str]:
    """Binary strings of varied lengths and kinds: dense, sparse spike-like, constant, periodic, bursty."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(rng.integers(1, max_len + 1))
        kind = i % 7
        if kind == 0:
            x = rng.random(n) < 0.5
        elif kind == 1:
            x = rng.random(n) < rng.choice([0.005, 0.02, 0.05])  # sparse spike raster
        elif kind == 2:
            x = rng.random(n) < rng.choice([0.95, 0.8])  # dense, mostly ones
        elif kind == 3:
            x = np.full(n, rng.integers(0, 2), dtype=bool)  # all zeros / all ones
        elif kind == 4:
            period = rng.integers(0, 2, size=int(rng.integers(1, 12)))
            x = np.resize(period, n).astype(bool)  # periodic
            if rng.random() < 0.5 and n > 1:
                x[rng.integers(0, n)] ^= True  # periodic with one defect
        elif kind == 5:
            # bursts: a two-state Markov chain with long silent stretches
            x = np.empty(n, dtype=bool)
            state = False
            for t in range(n):
                state = rng.random() < (0.7 if state else 0.03)
                x[t] = state
        else:
            x = rng.random(n) < rng.uniform(0.0, 1.0)
        out.append(to_str(x))
    return out


# ------------------------------------------------------------------------------------------------------
# the shared reference vectors


@pytest.fixture(scope="module")
def vectors():
    if not VECTORS.is_file():
        pytest.fail(f"reference vectors not found at {VECTORS}")
    data = json.loads(VECTORS.read_text())
    assert data["vectors"], "the reference file holds no vectors"
    return data["vectors"]


def test_reference_vectors(vectors):
    for v in vectors:
        s, expected = v["s"], v["C"]
        x = to_array(s)
        assert lz76(x) == expected, s
        assert lz76(x.astype(bool)) == expected, s
        assert lzc_module._count_python(x[None])[0] == expected, s
        assert lz76_by_definition(s) == expected, s
        if "phrases" in v:
            assert phrases_by_definition(s) == v["phrases"], s
        n = len(s)
        assert lzc(x, normalize=False) == float(expected)
        normalised = lzc(x)
        if "c_alpha2" in v:
            assert normalised == pytest.approx(v["c_alpha2"], rel=1e-12), s
        assert normalised == pytest.approx(expected * math.log2(n) / n if n > 1 else 0.0, rel=1e-12)


def test_reference_vectors_as_one_batch(vectors):
    # same-length vectors in one call, in a 3-D batch
    by_length = {}
    for v in vectors:
        by_length.setdefault(len(v["s"]), []).append(v)
    for n, group in by_length.items():
        x = np.stack([to_array(v["s"]) for v in group])
        got = lz76(x[None].repeat(2, axis=0))
        assert got.shape == (2, len(group))
        np.testing.assert_array_equal(got[0], [v["C"] for v in group])
        np.testing.assert_array_equal(got[1], [v["C"] for v in group])


def test_definition_reference_on_textbook_cases():
    # guards the brute-force reference itself (independently of the shared file)
    assert phrases_by_definition("0001101001000101") == ["0", "001", "10", "100", "1000", "101"]
    assert phrases_by_definition("1001111011000010") == ["1", "0", "01", "1110", "1100", "0010"]
    assert phrases_by_definition("0000000000") == ["0", "000000000"]
    assert phrases_by_definition("010") == ["0", "1", "0"]
    assert phrases_by_definition("0") == ["0"]


# ------------------------------------------------------------------------------------------------------
# exactness against the definition


def test_agrees_with_definition_on_random_strings():
    strings = random_strings(seed=2024, count=3000, max_len=300)
    expected = np.array([lz76_by_definition(s) for s in strings])
    got = np.array([lz76(to_array(s)) for s in strings])
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, [(strings[i], int(got[i]), int(expected[i])) for i in bad[:3]]
    assert len(set(expected.tolist())) > 20  # the strings really differ


def test_agrees_with_definition_in_batches():
    # many strings of one length per call, lengths around the 64-bit word boundaries
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 7, 8, 9, 63, 64, 65, 127, 128, 129, 200):
        x = np.concatenate(
            [rng.random((20, n)) < 0.5, rng.random((20, n)) < 0.03, np.zeros((2, n), bool), np.ones((2, n), bool)]
        )
        expected = [lz76_by_definition(to_str(row)) for row in x]
        np.testing.assert_array_equal(lz76(x), expected, err_msg=f"n = {n}")


def test_python_fallback_agrees_with_definition():
    strings = random_strings(seed=99, count=700, max_len=300)
    got = [int(lzc_module._count_python(to_array(s)[None])[0]) for s in strings]
    assert got == [lz76_by_definition(s) for s in strings]


@pytest.mark.parametrize("n", [1, 5, 64, 65, 300, 1024, 2500, 8000])  # 8000: the C kernel's automaton
@needs_c
def test_c_kernel_and_python_fallback_agree(n):
    rng = np.random.default_rng(n)
    rows = np.concatenate(
        [
            rng.random((40, n)) < 0.5,
            rng.random((40, n)) < 0.02,
            rng.random((10, n)) < 0.98,
            np.zeros((2, n), bool),
            np.ones((2, n), bool),
            np.resize(np.array([0, 1, 1, 0, 1], bool), (4, n)),
        ]
    ).astype(np.uint8)
    c_counts = lzc_module._count_c(rows)
    py_counts = lzc_module._count_python(rows)
    np.testing.assert_array_equal(c_counts, py_counts)
    assert c_counts.dtype == np.int64


def sparse_strings(seed: int, n: int, marks) -> np.ndarray:
    """Rows of length n with exactly m ones for every m in ``marks``, in structures that stress a run-length
    parse: ones at random places, periodic ones with one defect, repeated groups of gaps that change late,
    bursts, and the complements of all of these."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in marks:
        places = [rng.choice(n, m, replace=False)]
        step = max(1, n // (m + 1))
        periodic = np.arange(m) * step + int(rng.integers(0, step))
        if m > 2:
            periodic[int(rng.integers(1, m))] -= 1  # one defect
        places.append(periodic)
        motif = rng.integers(0, 12, size=int(rng.integers(1, 5)))  # gaps repeated, then one changed
        gaps = np.resize(motif, m)
        if m > 3:
            gaps[int(rng.integers(m // 2, m))] += 1
        places.append(np.cumsum(gaps + 1) - 1 + int(rng.integers(0, 20)))
        bursts = np.sort(rng.choice(np.arange(0, n, 3), min(m, len(range(0, n, 3))), replace=False))
        places.append(np.unique(np.clip(bursts // 40 * 40 + bursts % 7, 0, n - 1)))
        for where in places:
            where = np.unique(np.asarray(where)[(np.asarray(where) >= 0) & (np.asarray(where) < n)])
            x = np.zeros(n, bool)
            x[where] = True
            rows += [x, ~x]
    return np.array(rows)


@needs_c
@pytest.mark.parametrize("n", [64, 200, 1024])
def test_sparse_run_length_parse_agrees_with_definition(n):
    # The kernel parses sequences with at most 64 of one symbol on their run lengths and the others with the
    # bitsets: both sides of that switch (m = 63 ... 66 ones, or zeros), compared with the definition.
    marks = [0, 1, 2, 3, 5, 8, 13, 25, 40, 63, 64, 65, 66]
    rows = sparse_strings(n, n, [m for m in marks if m <= n])
    expected = [lz76_by_definition(to_str(row)) for row in rows]
    np.testing.assert_array_equal(lz76(rows), expected)
    rare = np.minimum(rows.sum(axis=1), n - rows.sum(axis=1))
    if n == 1024:  # both paths, and the switch itself, were exercised
        assert {63, 64, 65} <= set(rare.tolist())


@needs_c
def test_long_runs_and_long_sequences():
    # all-zero stretches of any length are one copy phrase; a single late spike adds one
    for n in (1, 2, 63, 64, 65, 1000, 4096, 100_003):
        zeros = np.zeros(n, dtype=bool)
        assert lz76(zeros) == min(n, 2)
        assert lz76(~zeros) == min(n, 2)
        if n > 2:
            late = zeros.copy()
            late[-1] = True  # 0 | 00...01
            assert lz76(late) == 2
            late[n // 2] = True  # 0 | 0..01 | 0..01 (a copy of the second phrase, incomplete or not)
            assert lz76(late) == lzc_module._count_python(late[None].astype(np.uint8))[0]
    # a long periodic sequence: one phrase per symbol of the first period, then one copy
    x = np.resize(np.array([1, 0, 0, 1, 0, 1, 1], bool), 50_000)
    assert lz76(x) == lz76_by_definition(to_str(x[:200])) == lzc_module._count_python(x[None].astype(np.uint8))[0]


@needs_c
def test_extension_rejects_bad_buffers():
    ext = lzc_module._lz76_ext
    out = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError):
        ext.lz76_batch(np.array([[0, 1, 2], [0, 0, 0]], dtype=np.uint8), 2, 3, out)  # not 0/1
    with pytest.raises(ValueError):
        ext.lz76_batch(np.zeros(5, dtype=np.uint8), 2, 3, out)  # too short
    with pytest.raises(ValueError):
        ext.lz76_batch(np.zeros(6, dtype=np.uint8), 2, 3, np.zeros(2, dtype=np.float64))  # not int64
    with pytest.raises(ValueError):
        ext.lz76_batch(np.zeros(6, dtype=np.uint8), 2, 0, out)  # n = 0
    ext.lz76_batch(b"\x00\x01\x01\x00\x00\x00", 2, 3, out)  # any buffer works
    assert out.tolist() == [3, 2]


def test_falls_back_to_python_without_the_extension():
    # a fresh interpreter in which importing brainlz._lz76 fails, as on a machine without a C compiler
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "brainlz._lz76":
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
import numpy as np
import brainlz.lzc as m
print(m.BACKEND)
x = np.array([[int(c) for c in "0001101001000101"], [int(c) for c in "1001111011000010"]], dtype=bool)
print(m.lz76(x).tolist(), m.lz76(np.zeros(300, dtype=bool)), m.lz76(np.resize([0, 1], (2, 2, 12))).tolist())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["python", "[6, 6] 2 [[3, 3], [3, 3]]"]


def test_backend_is_reported():
    assert lzc_module.BACKEND in ("c", "python")
    assert (lzc_module.BACKEND == "c") == (lzc_module._lz76_ext is not None)


# ------------------------------------------------------------------------------------------------------
# shapes and dtypes


def test_batch_shape_and_values_match_single_calls():
    rng = np.random.default_rng(3)
    x = rng.random((3, 4, 150)) < rng.uniform(0.02, 0.6, size=(3, 4, 1))
    counts = lz76(x)
    assert counts.shape == (3, 4)
    assert counts.dtype == np.int64
    for i in range(3):
        for j in range(4):
            assert counts[i, j] == lz76_by_definition(to_str(x[i, j]))
    assert lzc(x).shape == (3, 4)
    assert lzc(x).dtype == np.float64


def test_one_sequence_gives_a_scalar():
    c = lz76([0, 0, 1, 1, 0])
    assert isinstance(c, np.int64) and np.ndim(c) == 0
    v = lzc([0, 0, 1, 1, 0])
    assert isinstance(v, np.float64) and np.ndim(v) == 0


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint8, np.int16, np.uint32, np.int64])
def test_bool_and_integer_inputs_agree(dtype):
    rng = np.random.default_rng(5)
    x = rng.random((6, 97)) < 0.3
    expected = [lz76_by_definition(to_str(row)) for row in x]
    np.testing.assert_array_equal(lz76(x.astype(dtype)), expected)
    np.testing.assert_array_equal(lz76(x.astype(dtype).tolist()), expected)  # nested lists too


def test_non_contiguous_inputs():
    rng = np.random.default_rng(6)
    big = rng.random((10, 300)) < 0.4
    np.testing.assert_array_equal(lz76(big[::2, ::3]), [lz76_by_definition(to_str(r)) for r in big[::2, ::3]])
    # time on the last axis even when it is not the contiguous one
    raster = np.ascontiguousarray(np.swapaxes(big.reshape(10, 3, 100), 1, 2))  # [10, 100, 3]
    view = np.swapaxes(raster, 1, 2)  # [10, 3, 100], non-contiguous
    np.testing.assert_array_equal(lz76(view), lz76(big.reshape(10, 3, 100)))


def test_empty_batch():
    out = lz76(np.zeros((0, 16), dtype=bool))
    assert out.shape == (0,) and out.dtype == np.int64
    assert lzc(np.zeros((2, 0, 16), dtype=bool)).shape == (2, 0)


def test_n_equal_one():
    assert lz76([1]) == 1
    assert lz76([0]) == 1
    np.testing.assert_array_equal(lz76(np.zeros((2, 3, 1), dtype=bool)), np.ones((2, 3)))
    # documented choice: log_alpha(1) = 0, so the normalised value is 0.0 (not C = 1)
    assert lzc([1]) == 0.0
    assert lzc([1], alpha=3) == 0.0
    assert lzc([1], normalize=False) == 1.0


# ------------------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("bits", [[], np.zeros((3, 0), dtype=bool), np.zeros((2, 4, 0), dtype=np.int8)])
def test_no_time_bin_is_an_error(bits):
    with pytest.raises(ParameterError, match="at least one time bin") as info:
        lz76(bits)
    assert info.value.field == "bits"
    with pytest.raises(ParameterError, match="at least one time bin"):
        lzc(bits)


@pytest.mark.parametrize("bad", [2, -1, 255, 7])
def test_non_binary_values_are_an_error(bad):
    x = np.array([[0, 1, 0, 1], [1, 1, 0, 0]])
    x[1, 2] = bad
    with pytest.raises(ParameterError) as info:
        lz76(x)
    assert info.value.field == "bits"
    assert info.value.value == bad
    assert str(bad) in str(info.value) and "(1, 2)" in str(info.value)


@pytest.mark.parametrize(
    "bits", [np.array([0.0, 1.0, 1.0]), np.array([0.5, 1.0]), np.array(["0", "1"]), np.array([1 + 0j])]
)
def test_non_integer_dtypes_are_an_error(bits):
    with pytest.raises(ParameterError) as info:
        lz76(bits)
    assert info.value.field == "bits"
    assert str(bits.dtype) in str(info.value)


@pytest.mark.parametrize("bits", ["0101", 1, True, [[0, 1], [1]]])
def test_other_bad_bits_are_an_error(bits):
    with pytest.raises(ParameterError) as info:
        lz76(bits)
    assert info.value.field == "bits"


@pytest.mark.parametrize("alpha", [1, 0, -2, 1.999, float("nan"), float("inf"), True, "2", None])
def test_bad_alpha_is_an_error(alpha):
    with pytest.raises(ParameterError) as info:
        lzc([0, 1, 1, 0], alpha=alpha)
    assert info.value.field == "alpha"


def test_bad_normalize_is_an_error():
    with pytest.raises(ParameterError) as info:
        lzc([0, 1, 1, 0], normalize="yes")
    assert info.value.field == "normalize"


# ------------------------------------------------------------------------------------------------------
# normalisation


def test_normalisation_formula():
    rng = np.random.default_rng(11)
    for n in (2, 3, 17, 64, 1024):
        x = rng.random((5, n)) < 0.3
        c = lz76(x).astype(float)
        np.testing.assert_allclose(lzc(x), c * math.log2(n) / n, rtol=1e-13)
        np.testing.assert_allclose(lzc(x, alpha=2), c * math.log(n, 2) / n, rtol=1e-13)
        np.testing.assert_allclose(lzc(x, alpha=3), c * math.log(n) / math.log(3) / n, rtol=1e-13)
        np.testing.assert_allclose(lzc(x, alpha=2.5), c * math.log(n) / math.log(2.5) / n, rtol=1e-13)
        np.testing.assert_array_equal(lzc(x, normalize=False), c)
        np.testing.assert_array_equal(lzc(x, alpha=7, normalize=False), c)


def test_random_sequences_normalise_near_one():
    rng = np.random.default_rng(12)
    values = lzc(rng.random((200, 4096)) < 0.5)
    assert 0.85 < values.mean() < 1.15
    assert lzc(np.zeros(4096, dtype=bool)) < 0.01


# ------------------------------------------------------------------------------------------------------
# import cost


def test_import_pulls_in_no_brian2_and_no_jit():
    code = "import brainlz.lzc, sys; print('brian2' in sys.modules, 'numba' in sys.modules)"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_threads_give_the_same_counts(threads):
    """Rows split over threads (uneven parts included) come back complete and in order."""
    rng = np.random.default_rng(17)
    x = rng.random((5, 9, 300)) < np.linspace(0.01, 0.6, 9)[None, :, None]
    expected = np.array([[lz76(row) for row in sample] for sample in x])
    np.testing.assert_array_equal(lz76(x, threads=threads), expected)
    np.testing.assert_array_equal(lzc(x, threads=threads), lzc(x))
    assert lz76(x[0, 0], threads=threads) == expected[0, 0]  # fewer rows than threads


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_is_an_error(threads):
    with pytest.raises(ParameterError, match="threads"):
        lz76(np.zeros((2, 8), bool), threads=threads)
    with pytest.raises(ParameterError, match="threads"):
        lzc(np.zeros((2, 8), bool), threads=threads)
