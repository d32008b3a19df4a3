"""What ``jobqueue db`` does, without opening a store (opening would migrate it)."""

from __future__ import annotations

from dataclasses import dataclass

from . import migrations
from .database import connect, store_errors
from .url import parse


@dataclass(frozen=True, slots=True)
class SchemaState:
    """A store's schema: its version (0: not created) and the one this code needs."""

    schema: str
    location: str
    version: int
    latest: int

    @property
    def verdict(self) -> str:
        if self.version == self.latest:
            return "up to date"
        if self.version == 0:
            return "not created: run `jobqueue db migrate`"
        if self.version < self.latest:
            return "older than this jobqueue: run `jobqueue db migrate`"
        return "newer than this jobqueue: upgrade jobqueue"


def status(url: str) -> SchemaState:
    settings = parse(url)
    what = f"read the schema version at {settings.location}"
    with store_errors(what), connect(settings.conninfo) as conn:
        version = migrations.current(conn, settings.schema) or 0
    return SchemaState(settings.schema, settings.location, version, migrations.latest())


def migrate(url: str) -> tuple[SchemaState, list[migrations.Migration]]:
    """Bring the schema up to date (safe from any number of hosts at once): its state
    now, and the migrations this call applied."""
    settings = parse(url)
    with store_errors(f"migrate {settings.location}"), connect(settings.conninfo) as conn:
        applied = migrations.migrate(conn, settings.schema)
    return status(url), applied
