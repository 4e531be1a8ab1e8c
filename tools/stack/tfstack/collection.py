"""Expose the clone as ansible_collections/tracefleet/otel for Ansible, pytest and ansible-test.

Ansible finds a collection only under a path ending in ansible_collections/<ns>/<name>.
The link lives in the cache (one per clone path), never inside the clone, so nothing
walking the work tree meets a symlink loop. Prints the directory to put on
ANSIBLE_COLLECTIONS_PATH (and sys.path).
"""

import hashlib

from .paths import REPO, cache_root


def collections_root():
    root = REPO.parents[2] if (REPO.parent.name == "tracefleet"
                               and REPO.parents[1].name == "ansible_collections") else None
    if root:
        return root
    key = hashlib.sha1(str(REPO).encode()).hexdigest()[:12]
    root = cache_root() / "collections" / key
    link = root / "ansible_collections" / "tracefleet" / "otel"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != REPO:
        link.unlink()
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    return root


if __name__ == "__main__":
    print(collections_root())
