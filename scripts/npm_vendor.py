"""Copy files out of an npm package's tarball, each checked against a pinned SHA-256.

The dashboard serves htmx from the package and the browser tests inject axe-core, both
copied from npm (no CDN, no network at test time); the copies must be exactly the
published ones. ``scripts/vendor_htmx.py`` and ``scripts/vendor_axe.py`` each pin one
package (``Pins``) and call ``main``: the tarball and each copied file are checked
against the pins, and a mismatch stops with one line and exit 1.

To move to a new version, change the script's version, run it once, and pin the hashes
it reports.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NPM_TIMEOUT = 300


class Mismatch(Exception):
    """A file's SHA-256 is not the pinned one."""


@dataclass(frozen=True)
class Pins:
    """One npm package at one version, and the files taken from it."""

    name: str
    version: str
    tarball_sha256: str
    #: Path in the tarball -> (name in ``into``, SHA-256).
    files: Mapping[str, tuple[str, str]]
    into: Path

    @property
    def tarball(self) -> str:
        """The file name ``npm pack`` writes."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def expect(data: bytes, digest: str, what: str) -> bytes:
    """``data`` if it hashes to ``digest``; Mismatch naming ``what`` otherwise."""
    found = sha256(data)
    if found != digest:
        raise Mismatch(f"{what}: sha256 {found}, pinned {digest}")
    return data


def fetch(pins: Pins, workdir: Path) -> Path:
    """Download the tarball with ``npm pack`` into ``workdir``; its path."""
    subprocess.run(
        ["npm", "pack", f"{pins.name}@{pins.version}", "--pack-destination", str(workdir)],
        check=True, capture_output=True, timeout=NPM_TIMEOUT,
    )  # fmt: skip
    return workdir / pins.tarball


def vendor(pins: Pins, tarball: Path) -> None:
    """Check the tarball and copy the pinned files out of it."""
    expect(tarball.read_bytes(), pins.tarball_sha256, tarball.name)
    pins.into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member, (name, digest) in pins.files.items():
            source = archive.extractfile(member)
            if source is None:
                raise Mismatch(f"{member} is not a file in {tarball.name}")
            (pins.into / name).write_bytes(expect(source.read(), digest, member))


def check(pins: Pins) -> None:
    """Check the copies already in place against the pins."""
    for name, digest in pins.files.values():
        expect((pins.into / name).read_bytes(), digest, str(pins.into / name))


def main(pins: Pins, description: str) -> int:
    """Command-line entry: vendor (default) or ``--check``; exit 1 on any mismatch."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only check the vendored copies")
    args = parser.parse_args()
    try:
        if args.check:
            check(pins)
        else:
            with tempfile.TemporaryDirectory() as workdir:
                vendor(pins, fetch(pins, Path(workdir)))
    except (Mismatch, OSError, subprocess.SubprocessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("ok" if args.check else f"{pins.name} {pins.version} vendored in {pins.into}")
    return 0
