"""Files that exist whole or not at all.

Every file brainlz writes outside a run's staging folder (datasets, network specs, figures, sweep summaries,
benchmark results, the README's grid table) goes through :func:`atomic_write`: the content goes to a temporary
file in the destination's folder, is flushed to disk and then moved over the destination with
:func:`os.replace`.  A reader sees the old file or the new one, never half of one; an error or Ctrl+C while
writing leaves the old file and no temporary file.  The new file gets the permissions an ordinary ``open()``
would give it (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.  A run's staging folder
(:func:`make_staging`) likewise gets ``0o777`` less the umask, not ``mkdtemp``'s ``0o700``.
:func:`check_folder` refuses an output folder that cannot take files before anything is computed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "write_text", "write_json", "jsonable", "check_folder", "make_staging"]


def _umask() -> int:
    """The process' umask: read from ``/proc/self/status`` where Linux shows it (setting it to read it would
    briefly change it for every thread), else by setting and restoring it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_folder(field: str, path) -> Path:
    """Refuse a folder that cannot take new files, before anything is computed.

    ``path`` need not exist: then a folder is made and removed in its nearest existing ancestor, which must be a
    folder (a real write test: read-only file systems, permissions and ACLs all count, for root too).

    Parameters
    ----------
    field : str
        The name of the setting, for the error (e.g. ``"--out"``).
    path : str or Path

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        If ``path`` or an ancestor is not a folder, or nothing can be written there.
    """
    from .errors import ParameterError

    path = Path(path)
    existing = path
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        raise ParameterError(field, str(path), f"{str(existing)!r} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".brainlz-write-test-", dir=existing))
    except OSError as exc:
        raise ParameterError(field, str(path), f"cannot write in {str(existing)!r} "
                                               f"({exc.strerror or exc})") from None
    return path


def make_staging(parent, prefix: str) -> Path:
    """A new empty folder ``<parent>/<prefix><8 characters>`` with the permissions ``mkdir`` would give it
    (``0o777`` less the umask), not ``mkdtemp``'s ``0o700``: a results folder assembled in it and renamed into
    place is as readable as any other folder the user makes."""
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        os.chmod(staging, 0o777 & ~_umask())
    except BaseException:
        os.rmdir(staging)
        raise
    return staging


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, make_parents: bool = False):
    """Open a temporary file beside ``path`` for writing; on leaving the block it replaces ``path``.

    Parameters
    ----------
    path : str or Path
        The destination.
    mode : {"wb", "w"}
        Binary or text.
    make_parents : bool
        Create missing parent folders first.

    Yields
    ------
    file object
        Write the content here.  If the block raises, the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> with atomic_write("weights.npz") as handle:       # doctest: +SKIP
    ...     np.savez(handle, w=w)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text(path, text: str, *, make_parents: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`); returns ``path`` as a Path."""
    with atomic_write(path, "w", make_parents=make_parents) as handle:
        handle.write(text)
    return Path(path)


def write_json(path, data, *, make_parents: bool = False) -> Path:
    """Write ``data`` (plain JSON types) as indented JSON with a final newline to ``path``, atomically."""
    return write_text(path, json.dumps(data, indent=2) + "\n", make_parents=make_parents)


def jsonable(value):
    """A copy of ``value`` in plain JSON types, the one converter of brainlz's records.

    Dicts (keys as strings), lists and tuples recursively; numpy arrays as (nested) lists and numpy scalars as
    Python numbers; ``None``, bools, ints, strings as they are; floats as they are, except NaN and infinities,
    which become ``None`` (JSON has no such numbers); anything else (a Brian2 quantity, a dataclass) as its
    ``str``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray) and not hasattr(value, "dim"):  # a Brian2 quantity (an array) has units
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
