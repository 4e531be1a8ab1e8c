"""Build the demo shop's Go service (tools/demo/goservice) into the cache, outside the clone.

    python -m tfstack.goservice          # build if needed; print the binary's path

The binary lands at <cache>/bin/goservice-<hash>, where <hash> covers go.mod, go.sum and every
*.go file of the module: a warm machine reuses it, and any change to the sources builds a new one.
The module's go.sum is committed, so the build is verified against it (``-mod=readonly``: a build
never edits the clone). Go's own caches (GOCACHE, GOMODCACHE) stay where ``go env`` puts them,
outside the clone; a cold build fetches the modules from the module proxy. Measured on 2 busy cores:
65 s with empty Go caches (downloads included), 1 to 8 s with the modules cached, 0.06 s when reused.
"""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from .build import BuildError
from .paths import REPO, bin_dir

SOURCE = REPO / "tools" / "demo" / "goservice"


def source_files(source: Path = SOURCE) -> list:
    return sorted([source / "go.mod", source / "go.sum", *source.glob("*.go")])


def source_hash(source: Path = SOURCE) -> str:
    digest = hashlib.sha256()
    for path in source_files(source):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def binary_path(source: Path = SOURCE) -> Path:
    return bin_dir() / f"goservice-{source_hash(source)}"


def _go_env() -> dict:
    env = dict(os.environ, CGO_ENABLED="0")
    flags = [f for f in env.get("GOFLAGS", "").split() if not f.startswith("-mod=")]
    env["GOFLAGS"] = " ".join(flags + ["-mod=readonly"])
    for var in ("GOCACHE", "GOMODCACHE", "GOPATH"):  # never inside the clone
        if env.get(var) and Path(env[var]).resolve().is_relative_to(REPO):
            del env[var]
    return env


def ensure(source: Path = SOURCE, log=print) -> Path:
    """The cached binary for the current sources; built first when missing. Raises BuildError."""
    out = binary_path(source)
    if out.exists():
        log(f"cached  goservice {out}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    log(f"build   goservice from {source} ...")
    started = time.monotonic()
    proc = subprocess.run(["go", "build", "-trimpath", "-o", str(partial), "."], cwd=source, env=_go_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"building goservice failed: go build in {source}\n{tail}")
    partial.rename(out)
    log(f"built   goservice {out} in {time.monotonic() - started:.1f} s")
    return out


if __name__ == "__main__":
    try:
        print(ensure(log=lambda msg: print(msg, file=sys.stderr)))
    except BuildError as err:
        print(f"tfstack.goservice: {err}", file=sys.stderr)
        sys.exit(1)
