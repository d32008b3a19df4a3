"""Hostile and broken input: the API, the CLI and the store get a clear error, lose nothing
and never touch anything outside the data directory.

Each hypothesis test works in one sandbox: a data directory holding three jobs (pending,
running, complete) and, beside it, bait outside the tree (a valid job document, a file
named like /etc/passwd). After every example: the three jobs are unchanged, nothing
outside the data directory changed, no temp or staged file is left.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import jobqueue
from jobqueue import InvalidJob, Job, JobNotFound, JobQueue, StoreError, codec, transitions
from jobqueue.backends.file import FileStore
from jobqueue.cli import app
from jobqueue.ids import check_id
from jobqueue.job import STATUSES, Metadata, PendingJob, RunningJob, WorkerInfo
from jobqueue.process import hostname, start_ticks

# This very process: alive on this host, so the reaper never takes its jobs.
WORKER = WorkerInfo(
    name="me", host=hostname(), pid=os.getpid(), pid_started=start_ticks(os.getpid())
)
EXAMPLES = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE_NAMES = [
    "../x", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "..", ".", "", "~", "a~b",
    "a\x00b", "\x00", "x" * 10_000, "x" * 129, "é", "日本語", "a b", "a\nb", "-rf", ".hidden",
    "job.json", "\ud800", "a\u202eb", "CON", "%s%n", "$(touch pwned)", "pending/../running",
]  # fmt: skip
names = st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=30))
anything = st.one_of(
    names,
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(max_size=10),
    st.lists(names, max_size=2),
)


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
params = st.one_of(
    json_values,
    anything,
    st.sampled_from(
        [
            nested(64),
            nested(65),
            nested(10_000),
            {"big": "x" * (1 << 20)},
            {1: "x"},
            {"s": {1}},
            {"o": object()},
            [2**64],
            {"k": "\ud800"},
            {"\ud800": 1},
            ("tuple",),
            range(3),
        ]
    ),
)


class Sandbox:
    """A data directory with three jobs, and bait outside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.outside = root / "outside"
        self.outside.mkdir(parents=True)
        self.queue = JobQueue(self.data, durable=False)
        self.store = self.queue.backend.jobs
        assert isinstance(self.store, FileStore)
        done = self.queue.enqueue("seed", {"n": 0})
        running = self.queue.enqueue("seed", {"n": 1})
        self.queue.enqueue("seed", {"n": 2})
        for job in (done, running):
            claimed = self.store.claim(WORKER, datetime.now(UTC))
            assert claimed is not None and claimed.metadata.id == job.metadata.id
            if job is done:
                self.store.move(claimed, transitions.complete(claimed, None, datetime.now(UTC)))
        self.seeds = {job.metadata.id: job for job in self.queue.query_jobs()}
        bait = orjson.loads(codec.encode(self.seeds[done.metadata.id]))
        bait["metadata"].update(id="bait", type="bait")
        (self.outside / "bait.json").write_bytes(orjson.dumps(bait))
        (self.outside / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
        self.before = self.outside_files()

    def outside_files(self) -> dict[str, bytes]:
        """Everything under the sandbox but the data directory (and the cwd's entries)."""
        found = {
            str(p): p.read_bytes() if p.is_file() and not p.is_symlink() else b"<entry>"
            for p in self.root.rglob("*")
            if self.data not in p.parents and p != self.data
        }
        found.update({f"cwd/{name}": b"" for name in os.listdir(".")})
        return found

    def reset(self) -> None:
        """Remove everything but the seeds (quarantine included)."""
        jobs = self.data / "jobs"
        for directory in (*STATUSES, ".quarantine"):
            for entry in (jobs / directory).iterdir():
                if entry.stem in self.seeds:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    entry.rmdir()
                else:
                    entry.unlink()

    def check(self) -> None:
        for job_id, job in self.seeds.items():
            assert self.queue.get_job(job_id) == job, f"seed {job_id} changed"
        assert self.outside_files() == self.before, "something outside the data dir changed"
        jobs = self.data / "jobs"
        for hidden in (".tmp", ".staging", ".batches"):
            left = [p for p in (jobs / hidden).iterdir() if not p.name.startswith("spare.")]
            assert left == [], f"left in {hidden}/"  # (spares: files kept to be reused)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.chdir(tmp_path)  # a CLI default of ./data would show up in the cwd check
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    box = Sandbox(tmp_path / "box")
    yield box
    box.check()


def is_valid_id(value: object) -> bool:
    try:
        check_id(value)
    except InvalidJob:
        return False
    return True


# --- the API ----------------------------------------------------------------------------


@EXAMPLES
@given(job_id=anything)
def test_lookups_refuse_bad_ids_and_miss_unknown_ones(sandbox: Sandbox, job_id: Any) -> None:
    queue = sandbox.queue
    if not is_valid_id(job_id):
        for call in (queue.get_job, queue.cancel, queue.retry):
            with pytest.raises(InvalidJob):
                call(job_id)
    elif job_id not in sandbox.seeds:
        assert queue.get_job(job_id) is None
        assert queue.cancel(job_id) is False
        with pytest.raises(JobNotFound):
            queue.retry(job_id)
    sandbox.check()


@EXAMPLES
@given(job_type=anything, job_params=params, key=st.none() | anything, user=st.none() | anything)
def test_enqueue_stores_a_readable_job_or_refuses_and_writes_nothing(
    sandbox: Sandbox, job_type: Any, job_params: Any, key: Any, user: Any
) -> None:
    before = sandbox.queue.stats()["total"]
    try:
        job = sandbox.queue.enqueue(job_type, job_params, unique_key=key, user_id=user)
    except InvalidJob as e:
        assert "\n" not in str(e)
        assert sandbox.queue.stats()["total"] == before
    else:
        assert sandbox.queue.get_job(job.metadata.id) == job
        assert len(orjson.dumps(job.params)) <= 1 << 20
        sandbox.store.delete(job)
    sandbox.check()


def test_params_over_one_mib_or_nested_past_64_levels_are_refused(sandbox: Sandbox) -> None:
    sandbox.queue.enqueue("ok", {"x": "a" * ((1 << 20) - 8)})  # exactly 1 MiB of JSON
    with pytest.raises(InvalidJob, match="the limit is 1,048,576"):
        sandbox.queue.enqueue("big", {"x": "a" * ((1 << 20) - 7)})
    sandbox.queue.enqueue("deep", nested(64))
    with pytest.raises(InvalidJob, match="nested more than 64 levels"):
        sandbox.queue.enqueue("deep", nested(65))
    small = JobQueue(sandbox.data, durable=False, max_params_bytes=16)
    with pytest.raises(InvalidJob, match="the limit is 16"):
        small.enqueue("big", {"x": "a" * 20})


# --- the CLI ----------------------------------------------------------------------------

cli_values = st.one_of(names, st.text(alphabet='[]{}":,0123456789.-abe ', max_size=30))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """One command with hostile values: options as --opt=value, positionals after --."""
    value = draw(cli_values)
    kind = draw(st.sampled_from(["show", "cancel", "retry", "enqueue", "params", "options"]))
    if kind in ("show", "cancel", "retry"):
        return [kind, "--", value]
    if kind == "enqueue":
        return ["enqueue", "--", value, draw(st.sampled_from(["{}", "[]"]))]
    if kind == "params":
        deep = "[" * 3000 + "]" * 3000
        text = draw(st.one_of(cli_values, st.sampled_from([deep, "null", "1", '"s"', "{", "\x00"])))
        return ["enqueue", "--", "t", text]
    option = draw(st.sampled_from([
        ("enqueue", "--delay"), ("enqueue", "--at"), ("enqueue", "--timeout"),
        ("enqueue", "--unique-key"), ("enqueue", "--params-file"), ("list", "--status"),
        ("list", "--type"), ("cleanup", "--older-than"), ("reap", "--stale-after"),
    ]))  # fmt: skip
    command, flag = option
    extra = {"enqueue": ["--", "t"], "cleanup": ["--dry-run"]}.get(command, [])
    return [command, f"{flag}={value}", *extra]


@EXAMPLES
@given(args=command_lines())
def test_the_cli_answers_hostile_input_with_one_line_and_exit_1_or_2(
    sandbox: Sandbox, args: list[str]
) -> None:
    result = CliRunner().invoke(app, ["--data-dir", str(sandbox.data), *args])
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for job in sandbox.queue.query_jobs(status=["pending"]):
        if job.metadata.id not in sandbox.seeds:
            sandbox.queue.backend.jobs.delete(job)
    sandbox.check()


# --- files in the tree ------------------------------------------------------------------

file_names = st.one_of(
    st.sampled_from(
        [
            "x" * 250 + ".json",
            "..json",
            ".json",
            "a~b.json",
            "a b.json",
            "é.json",
            "x.txt",
            "job-0.json",
            "UPPER.JSON",
            "-rf.json",
            "\n.json",
            "x.json.tmp",
        ]
    ),
    st.text(
        st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=40,
    )
    .filter(lambda n: n not in (".", "..") and len(os.fsencode(n)) < 250)
    .map(lambda n: n + ".json"),
)
KINDS = ["bytes", "json", "job", "job-other-id", "job-other-status", "symlink", "dir", "fifo"]


def foreign_job(job_id: str, status: str = "pending") -> bytes:
    now = datetime.now(UTC)
    meta = Metadata(id=job_id, type="foreign", created=now, run_at=now)
    doc = codec.to_document(PendingJob(metadata=meta, params={}))
    doc["status"] = status
    return orjson.dumps(doc)


@EXAMPLES
@given(
    status=st.sampled_from(STATUSES),
    name=file_names,
    kind=st.sampled_from(KINDS),
    data=st.binary(max_size=300),
    value=json_values,
)
def test_foreign_files_are_quarantined_with_their_bytes_and_the_rest_goes_on(
    sandbox: Sandbox, status: str, name: str, kind: str, data: bytes, value: Any
) -> None:
    path = sandbox.data / "jobs" / status / name
    stem = name.removesuffix(".json")
    assume(stem not in sandbox.seeds)
    content = plant(path, kind, data, value, stem, sandbox.outside)

    sandbox.queue.stats()
    sandbox.queue.query_jobs()
    while (job := sandbox.store.claim(WORKER, datetime.now(UTC), {"foreign"})) is not None:
        sandbox.store.move(job, transitions.complete(job, None, datetime.now(UTC)))

    # A valid pending job document in pending/, named after its id, is a job like any
    # other; everything else (here: a document that names another id or says "running"
    # without a worker) is quarantined.
    valid_job = status == "pending" and kind == "job" and name.endswith(".json")
    valid_job = valid_job and is_valid_id(stem)
    if valid_job:
        assert isinstance(sandbox.queue.get_job(stem), Job)
    elif name.endswith(".json"):
        assert sandbox.queue.stats()["quarantined"] == 1
        assert quarantine_contents(sandbox) == [content], "the bytes were not kept"
    assert not os.path.lexists(path) or not name.endswith(".json") or valid_job
    sandbox.check()
    sandbox.reset()  # each example starts from the same tree (hypothesis replays them)


def plant(path: Path, kind: str, data: bytes, value: Any, stem: str, outside: Path) -> bytes:
    """Create a foreign entry at ``path``; returns what quarantine must keep of it."""
    if kind == "symlink":
        os.symlink(outside / "bait.json", path)
        return f"-> {outside / 'bait.json'}".encode()
    if kind == "dir":
        path.mkdir()
        return b"<dir>"
    if kind == "fifo":
        os.mkfifo(path)
        return b"<fifo>"
    content = {
        "bytes": data,
        "json": json.dumps(value).encode(),
        "job": foreign_job(stem) if is_valid_id(stem) else data,
        "job-other-id": foreign_job("someone-else"),
        "job-other-status": foreign_job(stem if is_valid_id(stem) else "x", "running"),
    }[kind]
    path.write_bytes(content)
    return content


def quarantine_contents(sandbox: Sandbox) -> list[bytes]:
    found = []
    for entry in os.scandir(sandbox.data / "jobs" / ".quarantine"):
        if entry.is_symlink():
            found.append(f"-> {os.readlink(entry.path)}".encode())
        elif entry.is_dir(follow_symlinks=False):
            found.append(b"<dir>")
        elif not entry.is_file(follow_symlinks=False):
            found.append(b"<fifo>")
        else:
            found.append(Path(entry.path).read_bytes())
    return found


# --- symlinks ----------------------------------------------------------------------------


def test_a_job_file_that_is_a_symlink_out_of_the_tree_is_never_followed(
    sandbox: Sandbox,
) -> None:
    link = sandbox.data / "jobs" / "pending" / "bait.json"
    os.symlink(sandbox.outside / "bait.json", link)  # a valid job document, outside

    with pytest.raises(InvalidJob, match="symbolic link"):
        sandbox.queue.get_job("bait")
    assert sandbox.store.claim(WORKER, datetime.now(UTC), {"bait"}) is None
    [kept] = (sandbox.data / "jobs" / ".quarantine").iterdir()
    assert kept.is_symlink() and kept.readlink() == sandbox.outside / "bait.json"
    assert sandbox.queue.stats()["quarantined"] == 1


@pytest.mark.parametrize("status", ["pending", "complete"])
def test_a_status_directory_replaced_by_a_symlink_is_refused(sandbox: Sandbox, status: str) -> None:
    directory = sandbox.data / "jobs" / status
    aside = sandbox.root / f"{status}-aside"
    directory.rename(aside)
    os.symlink(sandbox.outside, directory)
    with pytest.raises(StoreError, match=f"{status}: it is a symbolic link"):
        JobQueue(sandbox.data)
    result = CliRunner().invoke(app, ["--data-dir", str(sandbox.data), "stats"])
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1, result.output
    directory.unlink()
    aside.rename(directory)


def test_an_index_or_event_log_symlinked_out_is_never_written_through(sandbox: Sandbox) -> None:
    target = sandbox.outside / "passwd"
    index = sandbox.data / "jobs" / ".index" / "pending.log"
    index.unlink()
    os.symlink(target, index)
    for log in (sandbox.data / "jobs" / ".events").iterdir():
        log.unlink()
        os.symlink(target, log)
    job = sandbox.queue.enqueue("after", {})  # the index line and the event both fail: logged
    assert sandbox.queue.get_job(job.metadata.id) == job
    sandbox.store.rescan_interval = 0  # the index never heard of it: the rescan finds it
    assert sandbox.store.claim(WORKER, datetime.now(UTC), {"after"}) is not None
    index.unlink()  # the sandbox's own check compares the bait


# --- data only -----------------------------------------------------------------------------


def test_job_files_are_data_only_never_unpickled_or_evaluated() -> None:
    """The modules that read job files use JSON and nothing that can run code."""
    package = Path(jobqueue.__file__).parent
    readers = [package / "codec.py", *sorted((package / "backends").rglob("*.py"))]
    assert package / "backends" / "file" / "file.py" in readers  # never vacuous after a move
    forbidden = re.compile(r"\b(pickle|marshal|shelve|eval|exec|yaml|jsonpickle|__import__)\b")
    for module in readers:
        found = forbidden.findall(module.read_text())
        assert not found, f"{module.name} uses {found}"


def test_a_job_document_full_of_code_is_just_data(sandbox: Sandbox) -> None:
    pwned = sandbox.root / "pwned"
    evil = {"__reduce__": ["os.system", [f"touch {pwned}"]], "!!python/object": "os.system"}
    job = sandbox.queue.enqueue("evil", evil)
    running = sandbox.store.claim(WORKER, datetime.now(UTC), {"evil"})
    assert isinstance(running, RunningJob) and running.params == evil == job.params
    assert not pwned.exists()
    sandbox.store.move(running, transitions.complete(running, None, datetime.now(UTC)))
