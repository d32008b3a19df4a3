"""Where everything lives under a data directory, and how internal names are built.

Temp, staged and batch names carry their owner's ``process.owner_token()``
(``<pid>-<start ticks>``), so recovery can tell a crashed writer's leftovers from a live
writer's work in progress. Parsing those names lives here, next to building them.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ...job import STATUSES, Status

LOCK_STRIPES = 64
HIDDEN = (
    "tmp", "staging", "claimed", "batches", "locks", "index", "unique", "cancel", "quarantine",
    "events", "workers", "shared",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layout:
    """Every path of the tree in one place, so no other module builds a name by hand."""

    root: Path
    jobs: Path
    tmp: Path
    staging: Path
    claimed: Path
    batches: Path
    locks: Path
    index: Path
    unique: Path
    cancel: Path
    quarantine: Path
    events: Path
    workers: Path
    shared: Path
    #: Built once: joining jobs/ and a status for every file path showed in a claim's
    #: profile (docs/file-backend.md).
    _status_dirs: dict[str, Path] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_status_dirs", {s: self.jobs / s for s in STATUSES})

    @classmethod
    def under(cls, root: Path) -> Layout:
        """The one way to build it: the hidden names come from ``HIDDEN`` alone."""
        jobs = root / "jobs"
        return cls(root, jobs, *(jobs / f".{name}" for name in HIDDEN))

    def status_dir(self, status: Status) -> Path:
        """Cached: every job path starts here."""
        return self._status_dirs[status]

    def job(self, status: Status, job_id: str) -> Path:
        """A job file is named after its id: its place says its status, its name its id."""
        return self._status_dirs[status] / f"{job_id}.json"

    def later_copies(self, job_id: str) -> list[Status]:
        """Statuses other than running holding this id (each is later than running: a
        job leaving running/ is written to its new directory first)."""
        return [s for s in STATUSES if s != "running" and os.path.lexists(self.job(s, job_id))]

    def cancel_request(self, job_id: str) -> Path:
        """Kept out of running/, which holds nothing but job files."""
        return self.cancel / f"{job_id}.json"

    def directories(self) -> list[Path]:
        """Every directory the store needs, parents first."""
        hidden = [self.jobs / f".{name}" for name in HIDDEN]
        return [self.root, self.jobs, *(self.status_dir(s) for s in STATUSES), *hidden]

    def tmp_file(self, name: str, owner: str) -> Path:
        """Named for its owner: recovery deletes only a dead writer's temp files."""
        return tmp_path(self.tmp, name, owner)

    def staged_file(self, job_id: str, owner: str) -> Path:
        """``<id>~<owner>~<random>.json`` (ids never hold ``~``)."""
        return self.staging / f"{job_id}~{owner}~{_token(3)}.json"

    def claimed_file(self, job_id: str, owner: str) -> Path:
        """Named like a staged file: the pending file of a running job (see ``claims``)."""
        return self.claimed / f"{job_id}~{owner}~{_token(3)}.json"

    def batch_dir(self, owner: str) -> Path:
        """``<owner>~<random>``."""
        return self.batches / f"{owner}~{_token(4)}"

    def lock_file(self, family: str, name: str) -> Path:
        """Locks are striped (a bounded number of files, never deleted)."""
        stripe = zlib.crc32(name.encode()) % LOCK_STRIPES
        return self.locks / f"{family}-{stripe:02d}.lock"


def _token(nbytes: int) -> str:
    """Random hex, as ``secrets.token_hex`` makes it (os.urandom): importing ``secrets``
    loads hmac and OpenSSL, ~4 ms of every one-shot command."""
    return os.urandom(nbytes).hex()


def tmp_path(directory: Path, name: str, owner: str) -> Path:
    """``<name>.<owner>.<random>.tmp``: ``<name>`` may hold dots, so parse from the right."""
    return directory / f"{name}.{owner}.{_token(4)}.tmp"


def tmp_owner(name: str) -> str | None:
    """Recovery's question about a temp file: whose is it (None: a foreign name)."""
    parts = name.rsplit(".", 3)
    return parts[1] if len(parts) == 4 and parts[3] == "tmp" else None


def staged_parts(name: str) -> tuple[str, str] | None:
    """(job id, owner) of a staged file's name, or None for a foreign name."""
    parts = name.removesuffix(".json").split("~")
    return (parts[0], parts[1]) if len(parts) == 3 else None


def batch_owner(name: str) -> str | None:
    """Recovery's question about a batch: whose is it (None: a foreign name)."""
    parts = name.split("~")
    return parts[0] if len(parts) == 2 else None
