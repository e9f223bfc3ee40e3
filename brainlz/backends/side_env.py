"""Pinned side environments: the virtual environments of the ``genn`` and ``cuda`` backends.

brian2genn and brian2cuda need other Brian2 (and numpy) versions than brainlz itself, so each backend runs a small
worker script in a virtual environment of its own (``brainlz env genn``, ``brainlz env cuda``).  This module holds
what the two share: installing the pinned packages, the marker file that records them (an environment whose
marker holds the same pins is reused without contacting the registry), and reading a failed command's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

__all__ = ["MARKER", "venv_python", "read_marker", "install_pins", "versions_text", "last_line"]

#: Name of the marker file in an environment's directory.
MARKER = "brainlz-env.json"

#: pip's words for a package index it cannot reach.
UNREACHABLE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
               "ConnectTimeoutError", "Max retries exceeded", "Connection refused", "ProxyError",
               "No route to host", "Name or service not known", "ReadTimeoutError")


def venv_python(path) -> Path:
    """The Python interpreter of the virtual environment at ``path``."""
    return Path(path) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def read_marker(path: Path) -> dict | None:
    """The marker of the environment at ``path`` (pins, installed versions), or None without a valid one."""
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def install_pins(path: Path, exe: Path, pins, probe: str, *, label: str, error, log, timeout: float,
                 start: float) -> dict:
    """``pip install`` ``pins`` into the venv of ``exe``, check they import (``probe`` prints their versions as
    JSON), write the marker file; shared by the genn and cuda side environments.  Returns the installed versions.

    ``error(message, registry_unreachable=...)`` builds the exception raised on failure.
    """
    log(f"brainlz: installing {' '.join(pins)} into {path}")
    try:
        done = subprocess.run([str(exe), "-I", "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                               *pins], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise error(f"{label} environment {path}: pip install timed out after {timeout:.0f} s",
                    registry_unreachable=True) from None
    if done.returncode != 0:
        output = done.stdout + done.stderr
        unreachable = any(text in output for text in UNREACHABLE)
        raise error(f"{label} environment {path}: pip install failed"
                    f"{' (package index unreachable)' if unreachable else ''}: {last_line(done.stderr)}",
                    registry_unreachable=unreachable)
    done = subprocess.run([str(exe), "-I", "-c", probe], capture_output=True, text=True)  # as the workers run
    if done.returncode != 0:
        raise error(f"{label} environment {path}: the installed packages do not import: {last_line(done.stderr)}")
    installed = json.loads(done.stdout.strip().splitlines()[-1])
    (path / MARKER).write_text(json.dumps({"pins": list(pins), "installed": installed,
                                           "python": str(exe), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                           "seconds": round(time.perf_counter() - start, 1)}, indent=1))
    log(f"brainlz: {label} environment ready at {path} ({versions_text(installed)}) in "
        f"{time.perf_counter() - start:.0f} s")
    return installed


def versions_text(installed: dict) -> str:
    """``"brian2 2.5.4, numpy 1.26.4"``."""
    return ", ".join(f"{name} {version}" for name, version in installed.items())


def last_line(text: str) -> str:
    """The line of a command's output that says what went wrong (its last error line, else its last line)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error") or "Error" in line]
    return (errors or lines or ["no output"])[-1]
