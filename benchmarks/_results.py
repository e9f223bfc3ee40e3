"""Shared by the benchmark scripts: their result files."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(results: dict, path) -> Path:
    """Write ``results`` as indented JSON to ``path`` (parent directories created) through a temporary file and
    :func:`os.replace`, so that an interrupted benchmark never leaves a truncated result file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    return out
