"""Copy axe-core from the npm tarball into ``tests/browser/vendor/`` for the browser tests.

The accessibility check (``tests/browser/test_accessibility.py``) injects axe-core into
each dashboard page; the copy is committed, so the tests need no network, and it must be
exactly the published file: the tarball and each copied file are checked against the
SHA-256 pinned below (the tarball's also matches npm's ``dist.integrity``), and a
mismatch stops with one line and exit 1.

    python scripts/vendor_axe.py           # fetch with `npm pack`, check, copy
    python scripts/vendor_axe.py --check   # only check the copies already in tests/

To move to a new version, change VERSION, run it once, and pin the hashes it reports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from vendor_htmx import NPM_TIMEOUT, Mismatch, expect

VERSION = "4.14.1"
PACKAGE = f"axe-core@{VERSION}"
TARBALL_SHA256 = "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745"
#: Path in the tarball -> (name in tests/browser/vendor, SHA-256).
FILES = {
    "package/axe.min.js": (
        "axe.min.js",
        "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
    ),
    "package/LICENSE": (
        "axe-LICENSE.txt",
        "af175b9d96ee93c21a036152e1b905b0b95304d4ae8c2c921c7609100ba8df7e",
    ),
}
VENDOR = Path(__file__).resolve().parent.parent / "tests" / "browser" / "vendor"


def fetch(workdir: Path) -> Path:
    """Download the tarball with ``npm pack`` into ``workdir``; its path."""
    subprocess.run(
        ["npm", "pack", PACKAGE, "--pack-destination", str(workdir)],
        check=True, capture_output=True, timeout=NPM_TIMEOUT,
    )  # fmt: skip
    return workdir / f"axe-core-{VERSION}.tgz"


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
    """Check the copies in tests/browser/vendor against the pins."""
    for name, digest in FILES.values():
        expect((VENDOR / name).read_bytes(), digest, str(VENDOR / name))


def main() -> int:
    """Command-line entry: vendor (default) or ``--check``; exit 1 on any mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the vendored copy")
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
    print(f"axe-core {VERSION} vendored in {VENDOR}" if not args.check else "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
