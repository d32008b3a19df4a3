"""A ``postgresql://`` store URL: what libpq needs to connect, plus jobqueue's own options.

``postgresql://user@host:port/db?schema=jobs&migrate=false&listen=false``

* ``schema`` (default ``jobqueue``): where the tables live, one store per schema;
* ``migrate`` (default true): ``false`` refuses a schema older than this jobqueue
  instead of upgrading it on open (upgrade with ``jobqueue db migrate``);
* ``listen`` (default true): ``false`` never uses LISTEN, for PgBouncer in transaction
  mode, where a session's LISTEN is lost; workers and followers then only poll.

Every other query option must be one libpq knows (``sslmode``, ``host`` for a socket
directory, ``connect_timeout`` ...): anything else is refused in one line, so a typo such
as ``?shema=jobs`` cannot silently use the default schema. The URL's own values win
over the defaults every connection gets (a connect timeout, TCP keepalives and a user
timeout, so that a dead server is noticed: ``database.CONNECTION_DEFAULTS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...backend import parse_flag
from ...errors import InvalidJob

DEFAULT_SCHEMA = "jobqueue"
#: Quoted into SQL and into NOTIFY channel names (63 bytes at most, with a suffix).
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")
_OURS = ("schema", "migrate", "listen")


@dataclass(frozen=True, slots=True)
class Settings:
    """One store's URL, parsed."""

    #: What libpq connects with: the URL without jobqueue's options.
    conninfo: str
    schema: str
    migrate: bool
    listen: bool
    #: The URL as given, which reopens this same store (password included).
    url: str
    #: The URL without its password, for logs and messages.
    location: str


def parse(url: str) -> Settings:
    """Split ``url`` into libpq's part and ours; InvalidJob (one line) for a bad one."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in _OURS}
    theirs = [(k, v) for k, v in pairs if k not in _OURS]
    schema = ours.get("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_RE.fullmatch(schema):
        raise InvalidJob(
            f"schema must be 1 to 48 letters, digits or _ (not starting with a digit), "
            f"not {schema!r}"
        )
    # Not urlunsplit: it drops the "//" of an empty host (postgresql:///db?host=/socket).
    query = f"?{urlencode(theirs)}" if theirs else ""
    conninfo = f"postgresql://{parts.netloc}{parts.path}{query}"
    _check_libpq_options(url, conninfo)
    return Settings(
        conninfo=conninfo,
        schema=schema,
        migrate=parse_flag(ours.get("migrate", "true"), "migrate"),
        listen=parse_flag(ours.get("listen", "true"), "listen"),
        url=url,
        location=_without_password(url),
    )


def _check_libpq_options(url: str, conninfo: str) -> None:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(conninfo)
    except ProgrammingError as e:
        found = re.search(r'parameter: "([^"]*)"', str(e))
        what = f"unknown option {found.group(1)!r}" if found else str(e).strip().splitlines()[0]
        raise InvalidJob(f"{what} in store URL {_without_password(url)!r}") from None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))
