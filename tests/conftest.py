"""Make the clone importable as ansible_collections.tracefleet.otel and the stack harness as tfstack."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "stack"))

from tfstack.collection import collections_root  # noqa: E402

sys.path.insert(0, str(collections_root()))
