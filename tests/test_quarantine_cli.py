"""`jobqueue quarantine list | show | restore`, and `show ID` of a quarantined job (issue
13, section 1, item 6), on real files in tmp_path.

A file gets into quarantine the way it does in production: a job file is damaged in its
status directory and the store quarantines it when it next reads it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest
from cli_runs import Cli
from typer.testing import CliRunner, Result

from jobqueue import CompleteJob, JobQueue, StoreError, WorkerInfo, transitions
from jobqueue.backends.file import FileBackend, _fs
from jobqueue.backends.file.quarantine import Quarantine, QuarantineError
from jobqueue.cli import app

WORKER = WorkerInfo(name="remote-worker", host="elsewhere.example", pid=4242)


@pytest.fixture
def quarantine_dir(data_dir: Path, api: JobQueue) -> Path:
    return data_dir / "jobs" / ".quarantine"


def damage(api: JobQueue, job_id: str, status: str = "pending", garbage: bytes = b"{oops") -> bytes:
    """Overwrite a job's file and let the store find it; returns the good bytes."""
    path = Path(api.location) / "jobs" / status / f"{job_id}.json"
    good = path.read_bytes()
    path.write_bytes(garbage)
    api.query_jobs()  # reading it quarantines it
    assert not path.exists()
    return good


def only_entry(quarantine_dir: Path) -> Path:
    [entry] = quarantine_dir.iterdir()
    return entry


def assert_error(result: Result, code: int, *fragments: str) -> None:
    """Exit code, one `error:` line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --- show ID -------------------------------------------------------------------------------


def test_show_of_a_quarantined_job_says_so_and_names_the_file(
    cli: Cli, api: JobQueue, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize").metadata.id
    damage(api, job_id)
    entry = only_entry(quarantine_dir)
    assert_error(
        cli("show", job_id), 1, f"job {job_id} is in quarantine", str(entry), "not valid JSON"
    )
    assert_error(cli("watch", job_id), 1, "is in quarantine", str(entry))


def test_show_of_a_job_whose_file_just_broke_names_the_quarantined_file(
    cli: Cli, api: JobQueue, data_dir: Path, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize").metadata.id
    (data_dir / "jobs" / "pending" / f"{job_id}.json").write_bytes(b"\x00\x01")
    result = cli("show", job_id)  # this read is what quarantines it
    assert_error(result, 1, "is in quarantine", str(only_entry(quarantine_dir)))


def test_show_of_a_job_that_never_was_is_still_not_found(cli: Cli) -> None:
    assert_error(cli("show", "nope"), 1, "no job with id 'nope'")


# --- list -------------------------------------------------------------------------------------


def test_list_shows_each_file_and_whether_it_can_go_back(
    cli: Cli, api: JobQueue, quarantine_dir: Path
) -> None:
    broken = api.enqueue("resize").metadata.id
    fixed = api.enqueue("report").metadata.id
    damage(api, broken)
    good = damage(api, fixed)
    (quarantine_dir / f"pending~{fixed}.json").write_bytes(good)  # a person fixed it

    docs = {doc["job_id"]: doc for doc in orjson.loads(cli("quarantine", "list", "--json").stdout)}
    assert set(docs) == {broken, fixed}
    assert docs[broken]["restorable"] is False and "not valid JSON" in docs[broken]["problem"]
    assert docs[broken]["job_type"] is None and docs[broken]["found_in"] == "pending"
    assert docs[fixed] == docs[fixed] | {
        "name": f"pending~{fixed}.json", "path": str(quarantine_dir / f"pending~{fixed}.json"),
        "found_in": "pending", "size": len(good), "job_type": "report", "job_status": "pending",
        "restorable": True, "problem": None,
    }  # fmt: skip

    text = cli("quarantine", "list")
    assert text.exit_code == 0, text.output
    rows = {line.split()[0]: line for line in text.stdout.splitlines() if "~" in line}
    assert "restorable to pending/" in rows[f"pending~{fixed}.json"]
    assert "not valid JSON" in rows[f"pending~{broken}.json"]


def test_list_of_an_empty_quarantine(cli: Cli) -> None:
    assert cli("quarantine", "list").stdout.strip() == "no files in quarantine"
    assert orjson.loads(cli("quarantine", "list", "--json").stdout) == []


def test_list_of_a_data_dir_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(app, ["--data-dir", str(missing), "quarantine", "list"])
    assert_error(result, 1, "no queue at")
    assert not missing.exists()


# --- show NAME --------------------------------------------------------------------------------


def test_show_prints_why_and_the_content_with_control_characters_escaped(
    cli: Cli, api: JobQueue
) -> None:
    job_id = api.enqueue("resize").metadata.id
    damage(api, job_id, garbage=b'{"status": "\x1b[31mred"')
    result = cli("quarantine", "show", f"pending~{job_id}")  # .json may be left out
    assert result.exit_code == 0, result.output
    assert f"pending~{job_id}.json" in result.stdout and "not valid JSON" in result.stdout
    assert '{"status": "\\x1b[31mred"' in result.stdout
    assert "\x1b" not in result.stdout


def test_show_of_a_fixed_file_says_how_to_restore_it(cli: Cli, api: JobQueue) -> None:
    job_id = api.enqueue("resize").metadata.id
    good = damage(api, job_id)
    (Path(api.location) / "jobs" / ".quarantine" / f"pending~{job_id}.json").write_bytes(good)
    out = cli("quarantine", "show", job_id).stdout  # a job id names its file too
    assert "restorable to pending/" in out
    assert f"jobqueue quarantine restore pending~{job_id}.json" in out
    assert f'"id": "{job_id}"' in out


def test_show_of_a_symlink_never_follows_it(cli: Cli, quarantine_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not print me")
    (quarantine_dir / "pending~link.json").symlink_to(secret)
    result = cli("quarantine", "show", "pending~link.json")
    assert result.exit_code == 0, result.output
    assert "symbolic link" in result.stdout and "do not print me" not in result.stdout
    assert_error(cli("quarantine", "restore", "pending~link.json"), 1, "stays in quarantine")
    assert (quarantine_dir / "pending~link.json").is_symlink()


@pytest.mark.parametrize("name", ["../pending", "a/b", "..", ""])
def test_a_name_that_is_a_path_is_bad_input(cli: Cli, name: str) -> None:
    assert_error(cli("quarantine", "show", name), 2, "not a file name in quarantine")
    assert_error(cli("quarantine", "restore", name), 2, "not a file name in quarantine")


def test_an_unknown_name_exits_1(cli: Cli) -> None:
    assert_error(cli("quarantine", "show", "pending~nope.json"), 1, "no file 'pending~nope.json'")
    assert_error(cli("quarantine", "restore", "nope"), 1, "no file 'nope' in quarantine")


# --- restore ----------------------------------------------------------------------------------


def test_restore_puts_a_fixed_file_back_and_a_worker_gets_it(
    cli: Cli, api: JobQueue, data_dir: Path, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize", {"n": 1}).metadata.id
    good = damage(api, job_id)
    assert api.backend.jobs.claim(WORKER, api.clock.now()) is None  # its index is now current
    only_entry(quarantine_dir).write_bytes(good)

    result = cli("quarantine", "restore", f"pending~{job_id}.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"restored pending~{job_id}.json to pending/{job_id}.json"
    assert (data_dir / "jobs" / "pending" / f"{job_id}.json").read_bytes() == good
    assert list(quarantine_dir.iterdir()) == []
    # No rescan is due yet: the worker finds it through the pending index line.
    claimed = api.backend.jobs.claim(WORKER, api.clock.now())
    assert claimed is not None and claimed.metadata.id == job_id
    assert api.stats()["quarantined"] == 0  # (stats would have rescanned pending/)


def test_restore_of_an_ended_job_goes_to_its_status_dir(
    cli: Cli, api: JobQueue, data_dir: Path, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize").metadata.id
    running = api.backend.jobs.claim(WORKER, api.clock.now())
    assert running is not None
    api.backend.jobs.move(running, transitions.complete(running, {"ok": 1}, api.clock.now()))
    good = damage(api, job_id, status="complete")
    only_entry(quarantine_dir).write_bytes(good)
    assert cli("quarantine", "restore", job_id).exit_code == 0
    restored = api.get_job(job_id)
    assert isinstance(restored, CompleteJob) and restored.result == {"ok": 1}
    assert api.stats()["pending"] == 0


def test_restore_of_a_file_that_still_does_not_parse_is_refused(
    cli: Cli, api: JobQueue, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize").metadata.id
    damage(api, job_id)
    entry = only_entry(quarantine_dir)
    assert_error(
        cli("quarantine", "restore", entry.name), 1, "stays in quarantine", "not valid JSON"
    )
    assert entry.read_bytes() == b"{oops"
    assert api.get_job(job_id) is None


def test_restore_is_refused_while_a_job_with_its_id_exists(
    cli: Cli, api: JobQueue, data_dir: Path, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize").metadata.id
    good = damage(api, job_id)
    only_entry(quarantine_dir).write_bytes(good)
    (data_dir / "jobs" / "failed" / f"{job_id}.json").write_bytes(b"{}")  # put back by hand
    assert_error(cli("quarantine", "restore", job_id), 1, f"job {job_id} is already in failed/")
    assert only_entry(quarantine_dir).read_bytes() == good
    assert not (data_dir / "jobs" / "pending" / f"{job_id}.json").exists()


def test_a_restored_job_holds_its_unique_key_again(
    cli: Cli, api: JobQueue, quarantine_dir: Path
) -> None:
    """While its file was away another job took the key and ended: once back, the
    restored job is the key's holder, as a retried job would be."""
    job_id = api.enqueue("report", unique_key="report:today").metadata.id
    good = damage(api, job_id)
    meanwhile = api.enqueue("report", unique_key="report:today").metadata.id
    assert meanwhile != job_id
    running = api.backend.jobs.claim(WORKER, api.clock.now())
    assert running is not None and running.metadata.id == meanwhile
    api.backend.jobs.move(running, transitions.complete(running, None, api.clock.now()))
    only_entry(quarantine_dir).write_bytes(good)
    assert cli("quarantine", "restore", job_id).exit_code == 0
    assert api.enqueue("report", unique_key="report:today").metadata.id == job_id


def test_two_restores_at_once_put_the_file_back_once(
    api: JobQueue, data_dir: Path, quarantine_dir: Path
) -> None:
    job_id = api.enqueue("resize").metadata.id
    good = damage(api, job_id)
    name = only_entry(quarantine_dir).name
    only_entry(quarantine_dir).write_bytes(good)
    handles = [FileBackend(data_dir, durable=False).quarantine for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def restore(handle: Quarantine) -> None:
        start.wait(timeout=5)
        try:
            outcomes.append(handle.restore(name))
        except QuarantineError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=restore, args=(h,)) for h in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(type(o).__name__ for o in outcomes) == ["PendingJob", "QuarantineError"]
    assert (data_dir / "jobs" / "pending" / f"{job_id}.json").read_bytes() == good
    assert list(quarantine_dir.iterdir()) == []


def test_a_failed_write_leaves_the_file_in_quarantine(
    api: JobQueue, data_dir: Path, quarantine_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = api.enqueue("resize").metadata.id
    good = damage(api, job_id)
    entry = only_entry(quarantine_dir)
    entry.write_bytes(good)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise _fs.store_error(OSError(28, "No space left on device"), "write")

    monkeypatch.setattr(_fs, "link_atomic", full_disk)
    with pytest.raises(StoreError, match="disk is full"):
        FileBackend(data_dir, durable=False).quarantine.restore(entry.name)
    assert entry.read_bytes() == good
    assert not (data_dir / "jobs" / "pending" / f"{job_id}.json").exists()


# --- other backends -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["list"], ["list", "--json"], ["show", "x"], ["restore", "x"]])
def test_on_another_backend_quarantine_is_a_file_backend_feature(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    result = CliRunner().invoke(app, ["--store", "memory://", "quarantine", *command])
    assert_error(result, 2, "quarantine is a file-backend feature")
