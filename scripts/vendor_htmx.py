"""Copy htmx and its SSE extension from the npm tarball into the dashboard's static files.

    python scripts/vendor_htmx.py           # fetch with `npm pack`, check, copy
    python scripts/vendor_htmx.py --check   # only check the copies already in the package

The dashboard serves its JavaScript from the package (no CDN, no build step); how the
copies are checked is in ``scripts/npm_vendor.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from npm_vendor import Pins, main

HTMX = Pins(
    name="htmx.org",
    version="4.0.1",
    tarball_sha256="5fba65616ca148a86d377e9771bcada7f35faee3558651feb929eea425e13b3c",
    files={
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
    },
    into=Path(__file__).resolve().parent.parent / "jobqueue" / "dashboard" / "static" / "vendor",
)

if __name__ == "__main__":
    sys.exit(main(HTMX, (__doc__ or "").splitlines()[0]))
