"""Install one pinned Helm release into an execution environment image (a build step, run as root).

Downloads helm-<version>-linux-<arch>.tar.gz from get.helm.sh, checks its SHA-256 (against --sha256
when given, else against the .sha256sum file published beside it), and installs the `helm` binary.
Standard library only, so the base image needs neither curl nor tar.
"""

import argparse
import hashlib
import io
import os
import platform
import sys
import tarfile
import urllib.request

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", required=True, help="e.g. v3.21.4")
    parser.add_argument("--sha256", default="", help="expected SHA-256 of the archive (optional)")
    parser.add_argument("--dest", default="/usr/local/bin/helm")
    parser.add_argument("--base-url", default="https://get.helm.sh")
    args = parser.parse_args(argv)

    arch = ARCH.get(platform.machine(), platform.machine())
    name = f"helm-{args.version}-linux-{arch}.tar.gz"
    url = f"{args.base_url}/{name}"
    with urllib.request.urlopen(url, timeout=120) as response:
        archive = response.read()
    expected = args.sha256.strip()
    if not expected:
        with urllib.request.urlopen(f"{url}.sha256sum", timeout=60) as response:
            expected = response.read().decode().split()[0]
    digest = hashlib.sha256(archive).hexdigest()
    if digest != expected:
        print(f"{name}: sha256 {digest}, expected {expected}", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(f"linux-{arch}/helm")
        if member is None:
            print(f"{name} has no linux-{arch}/helm", file=sys.stderr)
            return 1
        data = member.read()
    with open(args.dest, "wb") as out:
        out.write(data)
    os.chmod(args.dest, 0o755)
    print(f"installed {name} ({digest}) as {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
