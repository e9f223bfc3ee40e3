"""Exact LZ76 complexity of binary sequences, batched.

The LZ76 phrase count ``C`` (Lempel & Ziv 1976) is the number of phrases of the exhaustive-history parse
that Kaspar & Schuster (1987) scan: each phrase is the longest prefix of the rest of the sequence that
already occurs starting at an earlier position (the earlier copy may overlap the phrase), plus one more
symbol; an incomplete last phrase (one that reaches the end while still being a copy) counts too.  For
example ``0001101001000101`` parses as ``0 | 001 | 10 | 100 | 1000 | 101`` (``C = 6``) and ``0000000000``
as ``0 | 000000000`` (``C = 2``).

:func:`lz76` returns ``C``; :func:`lzc` returns the normalised complexity ``C * log_alpha(n) / n``.

Both take one sequence (1-D) or any array of sequences with time on the last axis, e.g. a spike raster
``bool[n_samples, n_channels, n_bins]``, and compute every sequence in one call.

Algorithm
---------
Bit-parallel and exact.  For a phrase starting at ``p`` keep the bitset ``E`` of the "end" positions
``e = q + k`` of every earlier start ``q < p`` whose ``s[q:q+k]`` equals ``s[p:p+k]``; ``E_0 = {0..p-1}``.
With ``c = s[p+k]``: ``M = E & B_c`` (``B_c`` marks the positions holding ``c``).  If ``M`` is empty the
phrase ends at ``p+k`` and the next starts at ``p+k+1``; otherwise ``E = M << 1`` and ``k += 1``.  If
``p+k`` reaches ``n`` the incomplete last phrase counts and the parse ends.

This costs O(n^2 / 64) word operations, fine for trials of a few thousand bins but quadratic: long
recordings (from ``n >= 6144`` in the compiled kernel) are parsed in linear time with a *suffix automaton*
instead, built online over the sequence: the automaton of ``s[0:j]`` has a transition from the state of
``u`` on ``c`` iff ``uc`` is a substring of ``s[0:j]``, which is exactly the LZ76 test "``s[p:j+1]`` starts
at some ``q < p``" (overlap allowed); so one transition is looked up and one symbol added to the automaton
per symbol of the sequence, O(n) time and at most ``2n`` states of 16 bytes (Blumer et al. 1985; Crochemore
& Hancart 1997).  About 2 s for ``n = 10^7`` on one core (3.5 to 6 minutes with the bitsets; see
benchmarks/bench_lz76_long.py).

Two implementations exist:

* ``"c"`` -- the compiled extension ``brainlz._lz76``: 64-bit words, bitsets of 4-grams so that one step
  consumes four symbols, only the non-zero word range touched, phrases with few remaining candidates
  finished by byte comparison; sequences with at most 64 of one symbol (sparse spike trains, or their
  complement) parsed on their run lengths instead (the same parse, O(m^2) in the m rare symbols: ~1 us for
  a 1024-bin train of 25 spikes against ~4 us with the bitsets); the suffix automaton for ``n >= 6144``.
  The GIL is released while it counts, and Ctrl+C interrupts it within some 50 ms (it polls for signals).
  Built by ``pip install`` when a C compiler is present.
* ``"python"`` -- a fallback in pure Python using Python integers as bitsets (the suffix automaton, on
  ``array`` storage, from ``n >= 100000``): exact, but one to two orders of magnitude slower.

:data:`BACKEND` names the one in use.  This module imports neither Brian2 nor any JIT compiler.

References
----------
* Lempel A., Ziv J. (1976) On the complexity of finite sequences. IEEE Trans. Inf. Theory 22, 75-81.
* Kaspar F., Schuster H.G. (1987) Easily calculable measure for the complexity of spatiotemporal patterns.
  Phys. Rev. A 36, 842-848.
* Blumer A., Blumer J., Haussler D., Ehrenfeucht A., Chen M.T., Seiferas J. (1985) The smallest automaton
  recognizing the subwords of a text. Theoret. Comput. Sci. 40, 31-55.
* Crochemore M., Hancart C. (1997) Automata for matching patterns. In: Handbook of Formal Languages, vol. 2,
  399-462 (the online construction used here).
"""

from __future__ import annotations

import math
import threading
from array import array

import numpy as np

from . import checks
from .errors import ParameterError

try:  # the compiled kernel is optional: setup.py builds it when a C compiler is available
    from . import _lz76 as _lz76_ext
except ImportError:  # pragma: no cover - depends on the build
    _lz76_ext = None

__all__ = ["BACKEND", "lz76", "lzc"]

#: Which implementation :func:`lz76` uses: ``"c"`` (compiled extension ``brainlz._lz76``) or ``"python"``.
BACKEND: str = "c" if _lz76_ext is not None else "python"


# ---------------------------------------------------------------------------------------------------------
# input checking


def _as_bit_rows(bits) -> tuple[np.ndarray, tuple[int, ...], int]:
    """Validate ``bits`` and return (C-contiguous uint8 array [n_seq, n], leading shape, n)."""
    if isinstance(bits, (str, bytes)):
        raise ParameterError("bits", bits, "must be a bool or integer array of 0/1 values, not a string")
    try:
        arr = np.asarray(bits)
    except (TypeError, ValueError) as exc:
        raise ParameterError("bits", bits, f"must be a bool or integer array of 0/1 values ({exc})") from None
    if arr.ndim == 0:
        raise ParameterError("bits", bits, "must be an array with time on the last axis, not a scalar")
    n = int(arr.shape[-1])
    lead = tuple(int(d) for d in arr.shape[:-1])
    if n == 0:
        raise ParameterError("bits", arr.shape, "must have at least one time bin (the last axis has length 0)")
    if arr.dtype.kind not in "biu":
        raise ParameterError(
            "bits", arr.dtype, "must be a bool or integer array of 0/1 values; convert e.g. with (x > 0)"
        )
    if arr.dtype.kind != "b" and arr.size:
        if arr.min() < 0 or arr.max() > 1:
            bad = (arr != 0) & (arr != 1)
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                "bits", arr[index].item(), f"must hold only 0 and 1 (first other value at index {index})"
            )
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)  # same bytes (0/1): no copy when already contiguous
    rows = np.ascontiguousarray(arr, dtype=np.uint8).reshape(-1, n)
    return rows, lead, n


# ---------------------------------------------------------------------------------------------------------
# the two kernels; both take a C-contiguous uint8 array [n_seq, n] of 0/1 with n >= 1

#: Methods of the kernels: "auto" (chosen by length), "bitsets" (the bit-parallel scan, and the run-length
#: parse of sparse sequences in C) and "automaton" (the suffix automaton); all give the same counts.
_METHODS = {"auto": 0, "bitsets": 1, "automaton": 2}

#: Pure-Python kernel: the suffix automaton from this length on (the integer bitsets are faster below it).
_PY_AUTOMATON_MIN = 100_000


def _count_c(rows: np.ndarray, method: str = "auto", cancel: np.ndarray | None = None) -> np.ndarray:
    """LZ76 phrase counts of the rows of ``rows`` with the compiled extension.

    Called from the main thread, the kernel checks for signals every few tens of milliseconds (Ctrl+C raises
    KeyboardInterrupt); from other threads it checks ``cancel`` (a one-byte uint8 array) instead, if given,
    and raises KeyboardInterrupt once ``cancel[0]`` is non-zero.
    """
    if _lz76_ext is None:
        raise RuntimeError("the compiled extension brainlz._lz76 is not available")
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    n_seq, n = rows.shape
    out = np.empty(n_seq, dtype=np.int64)
    if n_seq:
        main = threading.current_thread() is threading.main_thread()
        _lz76_ext.lz76_batch(rows, n_seq, n, out, _METHODS[method], cancel, main)
    return out


def _count_one_python(row: np.ndarray) -> int:
    """LZ76 phrase count of one 0/1 uint8 row, Python integers as bitsets (same algorithm as the C kernel)."""
    n = int(row.shape[0])
    b1 = int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little")
    b0 = ((1 << n) - 1) ^ b1
    masks = (b0, b1)
    s = row.tolist()
    count = 0
    p = 0
    while p < n:
        ends = (1 << p) - 1  # E_0 = {0, ..., p-1}: every earlier start, matched length k = 0
        k = 0
        while True:
            if p + k == n:  # the rest is a copy: an incomplete last phrase
                return count + 1
            matched = ends & masks[s[p + k]]
            if not matched:  # no earlier start continues: the phrase ends with s[p+k]
                count += 1
                p += k + 1
                break
            ends = matched << 1
            k += 1
    return count


def _count_one_python_automaton(row: np.ndarray) -> int:
    """LZ76 phrase count of one 0/1 uint8 row with a suffix automaton built online (linear time; the same
    algorithm as ``lz76_sam`` in the C kernel).

    The automaton of ``s[0:j]`` has a transition from the state of ``u`` on ``c`` iff ``uc`` is a substring
    of ``s[0:j]``: for a phrase that starts at ``p`` and has copied ``s[p:j]``, that is the LZ76 test of
    whether ``s[p:j+1]`` starts at some ``q < p``.  The transition is looked up before ``s[j]`` is added.
    """
    s = row.tolist()
    n = len(s)
    states = 2 * n + 2
    code = "i" if states < 2**31 else "q"
    nxt = array(code, bytes(2 * states * array(code).itemsize))  # nxt[2 v + c]; 0 = none
    link = array(code, bytes(states * array(code).itemsize))
    length = array(code, bytes(states * array(code).itemsize))
    link[0] = -1
    size = 1
    last = 0
    cur = 0  # the state of s[p:j]
    p = 0
    count = 0
    for j in range(n):
        c = s[j]
        nx = nxt[2 * cur + c]  # s[p:j+1] in s[0:j]?
        # add s[j] to the automaton
        z = size
        size += 1
        length[z] = j + 1
        v = last
        while v >= 0 and nxt[2 * v + c] == 0:
            nxt[2 * v + c] = z
            v = link[v]
        if v < 0:
            link[z] = 0
        else:
            q = nxt[2 * v + c]
            if length[v] + 1 == length[q]:
                link[z] = q
            else:  # split q: its strings of length <= length[v] + 1 go to the clone
                cl = size
                size += 1
                nxt[2 * cl] = nxt[2 * q]
                nxt[2 * cl + 1] = nxt[2 * q + 1]
                link[cl] = link[q]
                length[cl] = length[v] + 1
                while v >= 0 and nxt[2 * v + c] == q:
                    nxt[2 * v + c] = cl
                    v = link[v]
                link[q] = cl
                link[z] = cl
        last = z
        if nx:  # the copy goes on
            cur = nx
            if length[link[cur]] >= j + 1 - p:
                cur = link[cur]  # the state was split: s[p:j+1] lies in the shorter half
        else:  # the phrase ends with s[j]
            count += 1
            p = j + 1
            cur = 0
    return count + (1 if p < n else 0)  # an incomplete last phrase counts


def _count_python(rows: np.ndarray, method: str = "auto") -> np.ndarray:
    """LZ76 phrase counts of the rows of ``rows`` in pure Python (the fallback kernel)."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    n = rows.shape[1]
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}")
    if method == "automaton" or (method == "auto" and n >= _PY_AUTOMATON_MIN):
        one = _count_one_python_automaton
    else:
        one = _count_one_python
    return np.fromiter((one(row) for row in rows), dtype=np.int64, count=rows.shape[0])


_count_kernel = _count_c if BACKEND == "c" else _count_python


def _count(rows: np.ndarray, threads: int = 1) -> np.ndarray:
    """Phrase counts of the rows; with ``threads > 1`` (compiled kernel, which releases the GIL) the rows are
    split into ``threads`` contiguous parts counted at the same time."""
    if threads == 1 or _count_kernel is not _count_c or rows.shape[0] < 2 * threads:
        return _count_kernel(rows)
    from concurrent.futures import ThreadPoolExecutor

    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    bounds = np.linspace(0, rows.shape[0], threads + 1).astype(int)
    cancel = np.zeros(1, dtype=np.uint8)  # set on Ctrl+C: the workers stop within some 50 ms
    with ThreadPoolExecutor(threads) as pool:
        parts = [pool.submit(_count_c, rows[bounds[k]:bounds[k + 1]], "auto", cancel) for k in range(threads)]
        try:
            return np.concatenate([part.result() for part in parts])
        except BaseException:
            cancel[0] = 1
            raise


# ---------------------------------------------------------------------------------------------------------
# public API


def lz76(bits, threads=1):
    """Exact LZ76 phrase count of one or many binary sequences.

    Each phrase is the longest prefix of the rest of the sequence that already occurs starting at an
    earlier position (overlap allowed), plus one symbol; an incomplete last phrase counts (Lempel & Ziv
    1976, as scanned by Kaspar & Schuster 1987).

    Parameters
    ----------
    bits : array_like of bool or int, shape (..., n)
        One binary sequence (1-D) or many, with time on the last axis, e.g. a spike raster
        ``bool[n_samples, n_channels, n_bins]``.  Integer arrays must hold only 0 and 1.
    threads : int, default 1
        Sequences counted at the same time (the compiled kernel runs without the GIL).

    Returns
    -------
    numpy.ndarray of int64, shape ``bits.shape[:-1]``
        The phrase count ``C`` of every sequence; a ``numpy.int64`` scalar for 1-D input.  ``C = 1`` for
        ``n = 1``.

    Notes
    -----
    Long sequences (``n >= 6144`` with the compiled kernel) take linear time and at most 32 bytes of memory
    per bin (a suffix automaton; about 2 s for ``n = 10^7``); shorter ones the bit-parallel scan.  Ctrl+C
    (KeyboardInterrupt) stops the count within some 50 ms.

    Raises
    ------
    ParameterError
        If ``bits`` is not a bool or integer array (the message names the dtype), holds a value other than
        0 and 1 (the message names the value and its index), is a scalar, or has no time bin (``n = 0``);
        or if ``threads`` is not a positive integer.

    Examples
    --------
    >>> int(lz76([0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1]))   # 0|001|10|100|1000|101
    6
    >>> lz76(np.zeros((2, 3, 50), dtype=bool)).tolist()                  # 0|0000...
    [[2, 2, 2], [2, 2, 2]]
    """
    threads = checks.integer("threads", threads, low=1, reason="expected a positive integer")
    rows, lead, _ = _as_bit_rows(bits)
    counts = _count(rows, threads).reshape(lead)
    return counts[()] if counts.ndim == 0 else counts


def lzc(bits, alpha=2, normalize=True, threads=1):
    """LZ76 complexity, normalised by the value expected of a random sequence.

    ``c = C * log_alpha(n) / n``, where ``C`` is the LZ76 phrase count (:func:`lz76`) and ``n`` the
    sequence length; ``n / log_alpha(n)`` is the asymptotic phrase count of a random sequence over
    ``alpha`` symbols, so ``c`` is near 1 for random and near 0 for very regular sequences.

    Parameters
    ----------
    bits : array_like of bool or int, shape (..., n)
        One binary sequence (1-D) or many, with time on the last axis; integer arrays must hold only 0
        and 1.
    alpha : float, default 2
        Alphabet size, the base of the logarithm; must be >= 2 (2 for binary sequences).
    normalize : bool, default True
        If False, return the raw phrase count ``C`` as float.
    threads : int, default 1
        Sequences counted at the same time (see :func:`lz76`).

    Returns
    -------
    numpy.ndarray of float64, shape ``bits.shape[:-1]``
        The (normalised) complexity of every sequence; a ``numpy.float64`` scalar for 1-D input.  For
        ``n = 1`` the normalised value is ``0.0``, as the formula gives (``log_alpha(1) = 0``), although
        ``C = 1``; with ``normalize=False`` it is ``1.0``.

    Raises
    ------
    ParameterError
        For bad ``bits`` (see :func:`lz76`), ``alpha`` < 2 or not a finite real number, a ``normalize``
        that is not a bool, or ``threads`` not a positive integer.

    Examples
    --------
    >>> round(float(lzc([0, 1] * 6)), 6)          # C = 3, n = 12: 3 * log2(12) / 12
    0.896241
    """
    base = checks.real("alpha", alpha, low=2, reason="must be a finite number >= 2 (the alphabet size, 2 for binary)")
    checks.flag("normalize", normalize)
    threads = checks.integer("threads", threads, low=1, reason="expected a positive integer")
    rows, lead, n = _as_bit_rows(bits)
    values = _count(rows, threads).astype(np.float64)
    if normalize:
        values *= (math.log(n) / math.log(base)) / n
    values = values.reshape(lead)
    return values[()] if values.ndim == 0 else values
