"""Tests of the long-sequence path of brainlz.lzc (issue 23): the linear-time suffix automaton, its exactness
against the definition and against the bit-parallel kernel, and Ctrl+C during a long count.

The reference here is a brute-force implementation of the definition written independently of both kernels
and of tests/test_lzc.py: for every phrase start ``p``, every earlier start ``q < p`` is compared symbol by
symbol with the rest of the sequence (the copy may overlap the phrase).
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlz import lzc as lzc_module
from brainlz.lzc import lz76, lzc

REPO = Path(__file__).resolve().parents[1]

needs_c = pytest.mark.skipif(
    lzc_module.BACKEND != "c", reason="compiled extension brainlz._lz76 not built (pure-Python backend active)"
)

#: length from which the compiled kernel's "auto" method uses the suffix automaton
SAM_MIN = getattr(lzc_module._lz76_ext, "SAM_MIN", 6144)


def lz76_brute(s) -> int:
    """LZ76 phrase count (Kaspar-Schuster convention) of the sequence ``s``, straight from the definition.

    A phrase starting at ``p`` copies the longest ``s[p:p+k]`` that equals ``s[q:q+k]`` for some ``q < p``
    (``q + k`` may pass ``p``: overlap allowed), and takes one more symbol; if the copy reaches the end of
    the sequence, the incomplete phrase counts too.
    """
    s = list(s)
    n = len(s)
    count = 0
    p = 0
    while p < n:
        longest = 0
        for q in range(p):
            k = 0
            while p + k < n and s[q + k] == s[p + k]:
                k += 1
            longest = max(longest, k)
        count += 1
        p += longest + 1  # past n when the copy reached the end (the incomplete last phrase)
    return count


def all_counts(x: np.ndarray) -> dict[str, int]:
    """Phrase count of the 1-D 0/1 array ``x`` by every kernel and method available."""
    row = np.ascontiguousarray(x, dtype=np.uint8)[None]
    got = {
        "lz76": int(lz76(x)),
        "python bitsets": int(lzc_module._count_python(row, "bitsets")[0]),
        "python automaton": int(lzc_module._count_python(row, "automaton")[0]),
    }
    if lzc_module.BACKEND == "c":
        for method in ("auto", "bitsets", "automaton"):
            got["c " + method] = int(lzc_module._count_c(row, method)[0])
    return got


# ------------------------------------------------------------------------------------------------------
# the brute force itself


def test_brute_force_on_textbook_cases():
    # Kaspar & Schuster's example, the all-zero case, an incomplete last phrase and n = 1
    assert lz76_brute("0001101001000101") == 6  # 0|001|10|100|1000|101
    assert lz76_brute("0000000000") == 2  # 0|000000000 (incomplete)
    assert lz76_brute("010") == 3  # 0|1|0 (the last phrase is an incomplete copy)
    assert lz76_brute("0110") == 3  # 0|1|10
    assert lz76_brute("0") == 1
    assert lz76_brute("01010101") == 3  # 0|1|010101: the copy overlaps the phrase


# ------------------------------------------------------------------------------------------------------
# every kernel and method against the definition


def test_exhaustive_up_to_length_12():
    """All 8190 binary strings of length 1 to 12, every kernel and method (the automaton forced too)."""
    for n in range(1, 13):
        rows = np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.uint8)
        expected = np.array([lz76_brute(row.tolist()) for row in rows])
        np.testing.assert_array_equal(lz76(rows), expected, err_msg=f"lz76, n = {n}")
        for method in ("bitsets", "automaton"):
            np.testing.assert_array_equal(
                lzc_module._count_python(rows, method), expected, err_msg=f"python {method}, n = {n}"
            )
        if lzc_module.BACKEND == "c":
            for method in ("auto", "bitsets", "automaton"):
                np.testing.assert_array_equal(
                    lzc_module._count_c(rows, method), expected, err_msg=f"c {method}, n = {n}"
                )


@st.composite
def binary_sequences(draw, max_len=300):
    """Binary sequences of any length up to ``max_len`` and any density: i.i.d. bits, runs, periodic with
    defects."""
    n = draw(st.integers(1, max_len))
    kind = draw(st.sampled_from(["iid", "runs", "periodic"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "iid":
        density = draw(st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.99, 1.0]) | st.floats(0.0, 1.0))
        x = rng.random(n) < density
    elif kind == "runs":  # alternating runs of random lengths: bursts and silences
        lengths = rng.geometric(1.0 / draw(st.integers(1, 40)), size=n)
        x = np.repeat(np.arange(n) % 2 == 1, lengths)[:n]
        if rng.random() < 0.5:
            x = ~x
    else:
        period = rng.integers(0, 2, size=draw(st.integers(1, 16))).astype(bool)
        x = np.resize(period, n)
        for _ in range(draw(st.integers(0, 3))):
            x[rng.integers(0, n)] ^= True
    return x.astype(np.uint8)


@settings(max_examples=400, deadline=None)
@given(x=binary_sequences())
def test_property_every_kernel_agrees_with_the_definition(x):
    expected = lz76_brute(x.tolist())
    got = all_counts(x)
    assert all(v == expected for v in got.values()), (x.tolist(), expected, got)


@settings(max_examples=300, deadline=None)
@given(bits=st.lists(st.integers(0, 1), min_size=1, max_size=300))
def test_property_on_arbitrary_bit_lists(bits):
    expected = lz76_brute(bits)
    got = all_counts(np.array(bits, dtype=np.uint8))
    assert all(v == expected for v in got.values()), (bits, expected, got)


# ------------------------------------------------------------------------------------------------------
# the long-sequence path against the bit-parallel kernel


def long_rows(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = {f"iid p={p}": (rng.random(n) < p) for p in (0.001, 0.01, 0.5)}
    rows["zeros"] = np.zeros(n, bool)
    rows["ones"] = np.ones(n, bool)
    rows["periodic 7"] = np.resize(np.array([1, 0, 0, 1, 0, 1, 1], bool), n)
    periodic = np.resize(rng.random(97) < 0.3, n)
    periodic[rng.integers(0, n, 3)] ^= True
    rows["periodic 97 with 3 defects"] = periodic
    spikes = np.zeros(n, bool)  # a regular spike train (every 50 bins) that changes rhythm half way
    spikes[: n // 2 : 50] = True
    spikes[n // 2 :: 37] = True
    rows["two rhythms"] = spikes
    bursts = np.repeat(np.arange(n) % 2 == 1, rng.geometric(1 / 200, size=n))[:n]
    rows["bursts"] = bursts & (rng.random(n) < 0.3)
    rows["repeat of the first half"] = np.resize(rng.random(n // 2) < 0.05, n)
    return {name: x.astype(np.uint8) for name, x in rows.items()}


@needs_c
@pytest.mark.parametrize("n", [10_000, 30_001, 100_000])
def test_automaton_agrees_with_bitsets_on_long_sequences(n):
    for name, x in long_rows(n, n).items():
        row = x[None]
        bitsets = int(lzc_module._count_c(row, "bitsets")[0])
        automaton = int(lzc_module._count_c(row, "automaton")[0])
        assert automaton == bitsets, (n, name)
        assert int(lz76(x)) == bitsets, (n, name)
    # a batch of long rows in one call (the automaton's memory is reused from row to row)
    batch = np.stack(list(long_rows(n + 1, n).values()))
    np.testing.assert_array_equal(lzc_module._count_c(batch, "automaton"), lzc_module._count_c(batch, "bitsets"))
    np.testing.assert_array_equal(lz76(batch), lzc_module._count_c(batch, "bitsets"))


@needs_c
def test_switch_between_bitsets_and_automaton():
    """Lengths on both sides of SAM_MIN, at densities with more than 64 marks (no run-length parse)."""
    rng = np.random.default_rng(23)
    for n in (SAM_MIN - 1, SAM_MIN, SAM_MIN + 1):
        x = np.concatenate([rng.random((3, n)) < 0.5, rng.random((3, n)) < 0.02, rng.random((2, n)) < 0.98])
        np.testing.assert_array_equal(lz76(x), lzc_module._count_c(x, "bitsets"), err_msg=f"n = {n}")
        np.testing.assert_array_equal(lz76(x), lzc_module._count_c(x, "automaton"), err_msg=f"n = {n}")


def test_python_automaton_agrees_on_long_sequences():
    # the pure-Python fallback's long path against its bitsets (and the C kernel when built)
    n = 20_000
    for name, x in long_rows(5, n).items():
        row = x[None]
        automaton = int(lzc_module._count_python(row, "automaton")[0])
        assert automaton == int(lzc_module._count_python(row, "bitsets")[0]), name
        if lzc_module.BACKEND == "c":
            assert automaton == int(lzc_module._count_c(row)[0]), name


def test_python_fallback_takes_the_automaton_for_long_sequences():
    # a fresh interpreter without the extension, as on a machine without a C compiler: a long sequence goes
    # to the pure-Python automaton (the integer bitsets would take minutes) and gives the same count
    n = lzc_module._PY_AUTOMATON_MIN + 17
    x = np.random.default_rng(4).random(n) < 0.05
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "brainlz._lz76":
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
import numpy as np
import brainlz.lzc as m
x = np.random.default_rng(4).random({n}) < 0.05
print(m.BACKEND, int(m.lz76(x)), int(m.lz76(np.ones({n}, bool))))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    backend, count, ones = result.stdout.split()
    assert backend == "python" and int(ones) == 2
    if lzc_module.BACKEND == "c":
        assert int(count) == int(lzc_module._count_c(x[None], "bitsets")[0])
    else:
        assert int(count) == int(lzc_module._count_python(x[None].astype(np.uint8), "bitsets")[0])


@needs_c
def test_long_sequence_values_and_normalisation():
    n = 1_000_000
    assert lz76(np.zeros(n, bool)) == 2
    assert lz76(np.ones(n, bool)) == 2
    x = np.resize(np.array([0, 1, 1], bool), n)
    assert lz76(x) == lz76_brute(x[:60].tolist()) == 4  # 0|1|10|11011011...
    rng = np.random.default_rng(1)
    random = rng.random(n) < 0.5
    assert 0.9 < lzc(random) < 1.1  # C log2(n) / n near 1 for a random sequence
    assert lz76(random, threads=2) == lz76(random)
    batch = np.stack([random, ~random, np.roll(random, 5)])
    np.testing.assert_array_equal(lz76(batch, threads=2), lz76(batch))
    assert lz76(~random) == lz76(random)  # the parse only compares symbols


@needs_c
def test_extension_arguments():
    ext = lzc_module._lz76_ext
    out = np.zeros(1, dtype=np.int64)
    bits = np.zeros((1, 10), dtype=np.uint8)
    with pytest.raises(ValueError, match="method"):
        ext.lz76_batch(bits, 1, 10, out, 3)
    ext.lz76_batch(bits, 1, 10, out, 2, np.zeros(1, np.uint8), False)
    assert out[0] == 2
    with pytest.raises(KeyboardInterrupt):  # a cancel flag that is already set (polled at the first check)
        ext.lz76_batch(np.zeros((1, 2_000_000), np.uint8), 1, 2_000_000, out, 2, np.ones(1, np.uint8), False)
    with pytest.raises(ValueError):
        ext.lz76_batch(bits, 1, 10, out, 0, np.zeros(0, np.uint8))  # an empty cancel buffer
    with pytest.raises(ValueError, match="not 0 or 1"):  # checked on the automaton's path too
        ext.lz76_batch(np.full((1, SAM_MIN), 2, np.uint8), 1, SAM_MIN, out)


# ------------------------------------------------------------------------------------------------------
# Ctrl+C


@needs_c
@pytest.mark.parametrize(
    "shape, method",
    [((20_000, 1024), "auto"), ((2_000, SAM_MIN - 1), "auto"), ((1, 600_000), "bitsets"), ((1, 600_000), "auto")],
)
def test_every_path_polls(shape, method):
    """The kernel polls within a batch of short rows, within one long row of the bitsets and within the
    automaton: a cancel flag set before the call stops it at the first poll (signals are checked there too),
    long before it would be done."""
    x = np.random.default_rng(0).random(shape) < 0.5
    with pytest.raises(KeyboardInterrupt):
        lzc_module._count_c(x, method, np.ones(1, np.uint8))
    with pytest.raises(KeyboardInterrupt):  # the cancel flag is how lz76(threads > 1) stops its workers
        lzc_module._count_c(x, method, np.array([7], np.uint8))
    assert lzc_module._count_c(x[:3, :5000], method, np.zeros(1, np.uint8)).shape == (min(3, shape[0]),)

INTERRUPTED = r"""
import sys
import numpy as np
from brainlz import lzc
mode = sys.argv[1]
rng = np.random.default_rng(0)
if mode == "bitsets":  # the quadratic kernel on 2 million bits: many seconds in one call
    x = (rng.random((1, 2_000_000)) < 0.5).astype(np.uint8)
    print("ready", flush=True)
    lzc._count_c(x, "bitsets")
else:  # the automaton on a batch of long rows, repeated: never done within the test
    x = rng.random((8, 1_000_000)) < 0.01
    print("ready", flush=True)
    while True:
        lzc.lz76(x, threads=2 if mode == "threads" else 1)
print("done", flush=True)
"""


@needs_c
@pytest.mark.parametrize("mode", ["bitsets", "automaton", "threads"])
def test_ctrl_c_interrupts_a_long_count(mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "done" not in out  # it was interrupted, not finished
    assert "KeyboardInterrupt" in err, err
    assert proc.returncode != 0
    assert waited < 2.5, f"exited {waited:.2f} s after SIGINT"
