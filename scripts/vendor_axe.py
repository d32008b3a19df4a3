"""Copy axe-core from the npm tarball into ``tests/browser/vendor/`` for the browser tests.

    python scripts/vendor_axe.py           # fetch with `npm pack`, check, copy
    python scripts/vendor_axe.py --check   # only check the copies already in tests/

The accessibility check (``tests/browser/test_accessibility.py``) injects axe-core into
each dashboard page; the copy is committed, so the tests need no network (the tarball's
pin also matches npm's ``dist.integrity``). How the copies are checked is in
``scripts/npm_vendor.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from npm_vendor import Pins, main

AXE = Pins(
    name="axe-core",
    version="4.14.1",
    tarball_sha256="e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745",
    files={
        "package/axe.min.js": (
            "axe.min.js",
            "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
        ),
        "package/LICENSE": (
            "axe-LICENSE.txt",
            "af175b9d96ee93c21a036152e1b905b0b95304d4ae8c2c921c7609100ba8df7e",
        ),
    },
    into=Path(__file__).resolve().parent.parent / "tests" / "browser" / "vendor",
)

if __name__ == "__main__":
    sys.exit(main(AXE, (__doc__ or "").splitlines()[0]))
