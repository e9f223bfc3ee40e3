"""Render the quickstart figures into figures/: runs protocols/quickstart.py and copies its three figures.

Usage: ``python figures/scripts/quickstart.py`` (about 15 s).
"""

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from brainlz.protocol import load_protocol, run_protocol  # noqa: E402


def main():
    protocol = load_protocol(ROOT / "protocols" / "quickstart.py")
    with tempfile.TemporaryDirectory() as out:
        result = run_protocol(protocol, out, protocol_file=ROOT / "protocols" / "quickstart.py", progress=False)
        for figure in sorted((result.directory / "figures").glob("*.png")):
            target = ROOT / "figures" / f"quickstart_{figure.name}"
            shutil.copyfile(figure, target)
            print(target.relative_to(ROOT))


if __name__ == "__main__":
    main()
