"""A PostgreSQL server for the tests, and a fresh schema (a fresh store) per test.

The server is ``JOBQUEUE_TEST_POSTGRES`` (a DSN) when it is set; otherwise a throwaway
cluster made from the installed binaries (``initdb`` on PATH, or Debian's
``/usr/lib/postgresql/*/bin``) in a temporary directory, listening on a unix socket
there only, with fsync off. ``initdb`` refuses to run as root, so as root the cluster
belongs to the ``postgres`` user (``runuser``). One server serves the whole session: it
starts at the first test that needs it and stops when the session ends (a session
killed before it could stop its cluster has it stopped by the next one).

Every test gets its own schema (``t<session>_<n>``), so stores never meet; a schema is
dropped when its test ends (``fresh_url``) or, for the contract suite's stores, at the
next test's start.

Without binaries and without a DSN the tests skip with ``SKIP``; with
``JOBQUEUE_REQUIRE_POSTGRES=1`` (CI) they fail instead, so a CI run can never pass
without having run them.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    import psycopg

DSN_ENV = "JOBQUEUE_TEST_POSTGRES"
REQUIRE_ENV = "JOBQUEUE_REQUIRE_POSTGRES"
SKIP = f"PostgreSQL tests need initdb on PATH or {DSN_ENV}=dsn"
#: Bounds every command that starts or stops the cluster.
COMMAND_TIMEOUT = 60
#: A test's DROP SCHEMA waits at most this long for a lock a leaked handle holds.
DROP_LOCK_TIMEOUT = "5s"
_PREFIX = "jobqueue-pg-"
#: The pid of the test session that started a cluster, in the cluster's directory.
_SESSION = "session.pid"
_SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=300 -c shared_buffers=64MB"
)


class Server:
    """One PostgreSQL server (a DSN), and the schemas the tests made on it."""

    def __init__(self, dsn: str, cluster: Path | None = None, bin_dir: Path | None = None):
        self.dsn = dsn
        self.cluster = cluster
        self.bin_dir = bin_dir
        self._token = secrets.token_hex(3)
        self._count = 0
        #: Contract-suite schemas by the test's tmp_path, to drop at the next one.
        self._by_path: dict[Path, str] = {}

    def url(self, schema: str, **options: str) -> str:
        """The store URL of ``schema`` on this server (extra URL options as given)."""
        parts = urlsplit(self.dsn)
        query = [*parse_qsl(parts.query), ("schema", schema), *options.items()]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def new_schema(self) -> str:
        self._count += 1
        return f"t{self._token}_{self._count}"

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit connection, for a test's own SQL."""
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)

    def drop(self, *schemas: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def store_for(self, tmp_path: Path) -> str:
        """The contract suite's store for one test (keyed by its tmp_path, the one thing
        the suite's slot is given): the schemas of earlier tests are dropped first."""
        if tmp_path not in self._by_path:
            old = [s for p, s in self._by_path.items() if p != tmp_path]
            self._by_path = {}
            if old:
                self.drop(*old)
            self._by_path[tmp_path] = self.new_schema()
        return self._by_path[tmp_path]

    def stop(self) -> None:
        """Drop what is left (on a server we did not start), or stop ours and delete it."""
        if self.cluster is None:
            if self._by_path:
                self.drop(*self._by_path.values())
            return
        assert self.bin_dir is not None
        _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.cluster / "data"),
                      "-m", "immediate", "-w", "stop"], self.cluster)  # fmt: skip
        shutil.rmtree(self.cluster, ignore_errors=True)


@functools.cache
def _server() -> Server | str:
    """The session's server, started once; else why there is none (also kept: a cluster
    that failed to start is not tried again by every test)."""
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        server = Server(dsn)
    else:
        bin_dir = find_binaries()
        if bin_dir is None:
            return SKIP
        try:
            server = start_cluster(bin_dir)
        except (OSError, KeyError, RuntimeError, subprocess.SubprocessError) as e:
            return f"could not start a PostgreSQL cluster: {e}"
    atexit.register(server.stop)
    return server


def server() -> Server:
    """The session's server; skips the test without one (fails it under REQUIRE_ENV, or
    when binaries are there but the cluster would not start)."""
    found = _server()
    if isinstance(found, Server):
        return found
    give_up(found)


def give_up(reason: str) -> NoReturn:
    """Skip for want of PostgreSQL, unless CI requires it; fail for anything else."""
    if reason != SKIP or os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)" if reason == SKIP else reason, pytrace=False)
    pytest.skip(SKIP)


def fresh_url(**options: str) -> Iterator[str]:
    """For a fixture: the URL of a new, empty store, whose schema is dropped afterwards."""
    found = server()
    schema = found.new_schema()
    yield found.url(schema, **options)
    found.drop(schema)


def find_binaries() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: PATH first, then Debian's place."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    digits = path.split("/")[-3]
    return int(digits) if digits.isdigit() else 0


def start_cluster(bin_dir: Path, *, listen: str = "", hba: Sequence[str] = ()) -> Server:
    """initdb and start a cluster on a unix socket in a new temporary directory; also on
    TCP at the ``listen`` addresses when given, for the clients that the ``hba`` lines
    (added to pg_hba.conf) let in (tests/cluster_hosts.py: hosts in network namespaces)."""
    stop_orphans(bin_dir)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    (root / _SESSION).write_text(str(os.getpid()))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data = root / "data"
    _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync"], root)  # fmt: skip
    if hba:
        with open(data / "pg_hba.conf", "a") as f:
            f.writelines(f"{line}\n" for line in hba)
    options = f"-k {root} -p 5432 -c listen_addresses='{listen}' {_SERVER_OPTIONS}"
    _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                  "-o", options, "-w", "-t", "30", "start"], root)  # fmt: skip
    return Server(f"postgresql://postgres@/postgres?host={root}&port=5432", root, bin_dir)


def stop_orphans(bin_dir: Path) -> None:
    """Stop and delete the clusters of test sessions that died without stopping them (a
    SIGTERM or SIGKILL skips ``atexit``)."""
    for root in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((root / _SESSION).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            if (root / "data" / "postmaster.pid").exists():
                _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m",
                              "immediate", "-w", "stop"], root, check=False)  # fmt: skip
            shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _as_postgres(command: list[str], cwd: Path, *, check: bool = True) -> None:
    """Run ``command`` (as the postgres user when we are root); fail with its output."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
