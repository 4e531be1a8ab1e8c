"""Where the stack keeps its binaries, clusters and logs: always outside the clone."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
STACK_SRC = REPO / "tools" / "stack"


def cache_root() -> Path:
    base = os.environ.get("TRACEFLEET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tracefleet"
    )
    return Path(base)


def bin_dir() -> Path:
    return cache_root() / "bin"


def state_root() -> Path:
    """Running clusters live here: one directory per cluster name."""
    return Path(os.environ.get("TRACEFLEET_STATE") or cache_root() / "clusters")


def cluster_dir(name: str) -> Path:
    return state_root() / name
