"""Copy htmx and its SSE extension from the npm tarball into the dashboard's static files.

The dashboard serves its JavaScript from the package (no CDN, no build step), so the
copies must be exactly the published ones: the tarball and each copied file are checked
against the SHA-256 pinned below, and a mismatch stops with one line and exit 1.

    python scripts/vendor_htmx.py           # fetch with `npm pack`, check, copy
    python scripts/vendor_htmx.py --check   # only check the copies already in the package

To move to a new version, change VERSION, run it once, and pin the hashes it reports.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "4.0.1"
PACKAGE = f"htmx.org@{VERSION}"
TARBALL_SHA256 = "5fba65616ca148a86d377e9771bcada7f35faee3558651feb929eea425e13b3c"
#: Path in the tarball -> (name in the package's static/vendor, SHA-256).
FILES = {
    "package/dist/htmx.min.js": (
        "htmx.min.js",
        "a0abb04f2f45a1f89d1d4844023245537e5e6014c87b144553e0607b4cc32130",
    ),
    "package/dist/ext/hx-sse.min.js": (
        "hx-sse.min.js",
        "18ef2761356ec1fe0bb6d92612315b37517a7c1e9856b661c5ae81fef239d103",
    ),
    "package/LICENSE": (
        "htmx-LICENSE.txt",
        "d3d2456f76414f2456104660ebd65aff1c04cd7966b942bdabd63f3cdb316a38",
    ),
}
VENDOR = Path(__file__).resolve().parent.parent / "jobqueue" / "dashboard" / "static" / "vendor"
NPM_TIMEOUT = 300


class Mismatch(Exception):
    """A file's SHA-256 is not the pinned one."""


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def expect(data: bytes, digest: str, what: str) -> bytes:
    """``data`` if it hashes to ``digest``; Mismatch naming ``what`` otherwise."""
    found = sha256(data)
    if found != digest:
        raise Mismatch(f"{what}: sha256 {found}, pinned {digest}")
    return data


def fetch(workdir: Path) -> Path:
    """Download the tarball with ``npm pack`` into ``workdir``; its path."""
    subprocess.run(
        ["npm", "pack", PACKAGE, "--pack-destination", str(workdir)],
        check=True, capture_output=True, timeout=NPM_TIMEOUT,
    )  # fmt: skip
    return workdir / f"htmx.org-{VERSION}.tgz"


def vendor(tarball: Path) -> None:
    """Check the tarball and copy the pinned files out of it."""
    expect(tarball.read_bytes(), TARBALL_SHA256, tarball.name)
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member, (name, digest) in FILES.items():
            source = archive.extractfile(member)
            if source is None:
                raise Mismatch(f"{member} is not a file in {tarball.name}")
            (VENDOR / name).write_bytes(expect(source.read(), digest, member))


def check() -> None:
    """Check the copies in the package against the pins."""
    for name, digest in FILES.values():
        expect((VENDOR / name).read_bytes(), digest, str(VENDOR / name))


def main() -> int:
    """Command-line entry: vendor (default) or ``--check``; exit 1 on any mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the vendored copies")
    args = parser.parse_args()
    try:
        if args.check:
            check()
        else:
            with tempfile.TemporaryDirectory() as workdir:
                vendor(fetch(Path(workdir)))
    except (Mismatch, OSError, subprocess.SubprocessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"htmx {VERSION} and hx-sse vendored in {VENDOR}" if not args.check else "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
