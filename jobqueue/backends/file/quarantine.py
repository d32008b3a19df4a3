"""``jobs/.quarantine/``: where unreadable job files go, bytes intact.

A corrupt file must neither be lost nor retried forever, so it is moved aside (the
move keeps bytes, mode and even a symlink as it was: nothing is read through it) and
counted in ``stats``; ``jobqueue doctor`` lists what waits there for a person.

Names are ``<status>~<original name>.json``, shortened so that any name that fits in a
directory still fits here, with ``~2``, ``~3``... when a name is taken. The move never
replaces an existing entry (``_fs.rename_noreplace``): two processes quarantining at
once cannot overwrite each other's file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from . import _fs

log = logging.getLogger(__name__)

_MAX_STEM = 160  # bytes: leaves room for the status, a counter and ".json" within NAME_MAX
_ATTEMPTS = 1000


def quarantine_name(status: str, name: str) -> str:
    """The base name a file of ``status``/``name`` gets in quarantine."""
    stem = name.removesuffix(".json")
    raw = os.fsencode(stem)
    if len(raw) > _MAX_STEM:
        digest = hashlib.sha256(raw).hexdigest()[:12]
        stem = f"{os.fsdecode(raw[:_MAX_STEM]).rstrip()}-{digest}"
    return f"{status}~{stem}"


def move_aside(quarantine: Path, path: Path, status: str, reason: str) -> Path | None:
    """Move ``path`` into ``quarantine``; None if it was gone already or cannot be moved
    (a read-only tree: it is then just skipped, and found again next time)."""
    base = quarantine_name(status, path.name)
    for n in range(1, _ATTEMPTS + 1):
        dst = quarantine / (f"{base}.json" if n == 1 else f"{base}~{n}.json")
        try:
            _fs.rename_noreplace(path, dst)
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None  # someone else moved or fixed it first
        except OSError as e:
            log.error("cannot quarantine %s (%s): %s", path, reason, e)
            return None
        log.error("quarantined %s: %s (bytes kept in %s)", path.name, reason, dst)
        return dst
    log.error("cannot quarantine %s: %d names taken", path, _ATTEMPTS)
    return None
