"""Give `ansible-test sanity --requirements` a pip bootstrap script that works offline.

ansible-test bootstraps pip in each sanity venv with a get-pip.py it downloads from a host
this machine cannot reach, and uses a cached copy at ~/.ansible/test/cache/get_pip_<ver>.py
when there is one. This writes a stand-in there: it runs ensurepip in a subprocess (in-process
it would point PIP_CONFIG_FILE at /dev/null and lose the machine's pip configuration), then
installs the packages ansible-test asked for with that pip.
"""

import re
from pathlib import Path

import ansible_test

STAND_IN = '''"""Stand-in for get-pip.py written by tracefleet.otel's `make setup` (tools/ansible_test_get_pip.py)."""
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
'''


def pip_version() -> str:
    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text())
    if not match:
        raise SystemExit(f"cannot find ansible-test's pip version in {source}")
    return match.group(1)


def main() -> None:
    path = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{pip_version().replace('.', '_')}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != STAND_IN:
        path.write_text(STAND_IN)
    print(f"ansible-test pip bootstrap: {path}")


if __name__ == "__main__":
    main()
