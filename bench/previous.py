"""The package of an earlier commit, for benchmarks that time the previous implementation in the
same run as the current one (``--previous REV``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def export(rev: str, into: Path) -> Path:
    """The package as of ``rev``, exported from git (its ``src`` directory, to put on PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src/lightsout"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"
