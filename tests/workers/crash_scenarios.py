"""The transitions that tests/test_crash_points.py crashes, step by step.

Each scenario prepares a store (``setup``, not armed), then runs one transition
(``run``) with the store's ``faults`` hook armed. Run as a script, it does that in a
child process that ``os._exit(9)``s at the N-th step of the transition:

    python crash_scenarios.py DATA_DIR SCENARIO STEP_INDEX WORKER_JSON

Everything is deterministic (a fixed clock, sequential ids, a given worker), so the
parent can run the same scenario in-process to learn the state before and after it.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobqueue import JobQueue, reaper, transitions
from jobqueue.backends.file import FileBackend, FileStore
from jobqueue.job import ErrorInfo, Job, RunningJob, Status, WorkerInfo

NOW = datetime(2030, 1, 1, tzinfo=UTC)
BOOM = ErrorInfo(type="Boom", message="it broke")
KEY = "the-key"
CRASH_EXIT = 9


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass
class Ctx:
    """What a scenario works with: a queue on a FileBackend, its jobs part (the store
    whose ``faults`` hook is armed), and the worker that claims."""

    root: Path
    worker: WorkerInfo
    durable: bool = False
    backend: FileBackend = field(init=False)
    store: FileStore = field(init=False)
    queue: JobQueue = field(init=False)

    def __post_init__(self) -> None:
        self.backend = FileBackend(self.root, durable=self.durable, rescan_interval=0)
        self.store = self.backend.jobs
        counter = itertools.count(1)
        self.queue = JobQueue(
            self.backend,
            clock=FixedClock(),
            new_id=lambda now: f"job-{next(counter)}",
        )

    def only(self, status: Status) -> Job:
        [job] = self.store.scan([status])
        return job

    def running(self) -> RunningJob:
        job = self.only("running")
        assert isinstance(job, RunningJob)
        return job

    def claim(self) -> None:
        assert self.store.claim(self.worker, NOW) is not None


@dataclass(frozen=True)
class Scenario:
    setup: Callable[[Ctx], None]
    run: Callable[[Ctx], None]
    #: The steps the transition goes through, in order: the rows of the crash table.
    steps: tuple[str, ...]
    #: Whether every job the transition touches must end in the same state (enqueue_many).
    all_or_nothing: bool = False


def _nothing(ctx: Ctx) -> None:
    pass


def _pending(ctx: Ctx, max_retries: int = 1) -> None:
    ctx.queue.enqueue("work", {"n": 1}, max_retries=max_retries, unique_key=KEY)


def _running(ctx: Ctx, max_retries: int = 1) -> None:
    _pending(ctx, max_retries)
    ctx.claim()


def _failed(ctx: Ctx) -> None:
    _running(ctx, max_retries=0)
    job = ctx.running()
    ctx.store.move(job, transitions.fail(job, BOOM, NOW, None))


def _failed_and_its_key_taken(ctx: Ctx) -> None:
    """The retry must then hold the key beside the new holder (a write of its own)."""
    _failed(ctx)
    ctx.queue.enqueue("work", {"n": 2}, unique_key=KEY)


def _complete(ctx: Ctx) -> None:
    _running(ctx)
    job = ctx.running()
    ctx.store.move(job, transitions.complete(job, {"ok": True}, NOW))


def _finish(make: Callable[[RunningJob], Job]) -> Callable[[Ctx], None]:
    def run(ctx: Ctx) -> None:
        job = ctx.running()
        ctx.store.move(job, make(job))

    return run


def _cancel_running(ctx: Ctx) -> None:
    job = ctx.running()
    assert ctx.queue.cancel(job.metadata.id, reason="stop")  # the request ...
    ctx.store.move(job, transitions.cancel_running(job, "stop", NOW))  # ... the worker obeys


def _complete_and_sync(ctx: Ctx) -> None:
    """An end written without an fsync, then the group's barrier (see backends.file.claims)."""
    job = ctx.running()
    ctx.store.move(job, transitions.complete(job, {"ok": True}, NOW))
    ctx.store.flush()


def _reap(ctx: Ctx) -> None:
    assert len(reaper.reap(ctx.store, ctx.backend.cancels, NOW, timedelta(seconds=30))) == 1


def _enqueue_many(ctx: Ctx) -> None:
    ctx.queue.enqueue_many("work", [{"n": n} for n in range(3)])


def _cancel_pending(ctx: Ctx) -> None:
    assert ctx.queue.cancel("job-1", reason="stop")


def _retry(ctx: Ctx) -> None:
    ctx.queue.retry("job-1")


def _cleanup(ctx: Ctx) -> None:
    assert ctx.queue.cleanup(older_than=0) == 1


def _remove(ctx: Ctx) -> None:
    assert ctx.queue.remove_jobs("work") == 1


IN_PLACE = ("write:tmp", "move:written", "move:done")
SCENARIOS: dict[str, Scenario] = {
    "enqueue": Scenario(
        _nothing,
        lambda ctx: _pending(ctx),
        ("write:tmp", "add:keys-held", "write:tmp", "write:linked", "add:written"),
    ),
    "enqueue_many": Scenario(
        _nothing,
        _enqueue_many,
        (
            "add:keys-held",
            "add:batch-written",
            "add:batch-committed",
            "add:published",
            "add:published",
            "add:published",
            "add:written",
        ),
        all_or_nothing=True,
    ),
    "claim": Scenario(_pending, Ctx.claim, ("claim:taken", "write:tmp", "claim:written")),
    "heartbeat": Scenario(
        _running,
        _finish(lambda job: transitions.heartbeat(job, NOW + timedelta(seconds=5))),
        IN_PLACE,
    ),
    "complete": Scenario(
        _running, _finish(lambda job: transitions.complete(job, {"ok": True}, NOW)), IN_PLACE
    ),
    "fail-retry": Scenario(
        _running, _finish(lambda job: transitions.fail(job, BOOM, NOW, timedelta(0))), IN_PLACE
    ),
    "fail-final": Scenario(
        lambda ctx: _running(ctx, max_retries=0),
        _finish(lambda job: transitions.fail(job, BOOM, NOW, None)),
        IN_PLACE,
    ),
    "release": Scenario(_running, _finish(transitions.release), IN_PLACE),
    "cancel-pending": Scenario(
        _pending,
        _cancel_pending,
        ("move:staged", "write:tmp", "move:written", "move:done"),
    ),
    "cancel-running": Scenario(
        _running, _cancel_running, ("write:tmp", "cancel:requested", *IN_PLACE)
    ),
    "retry-failed": Scenario(
        _failed_and_its_key_taken,
        _retry,
        ("move:staged", "write:tmp", "write:tmp", "move:written", "move:done"),
    ),
    "cleanup": Scenario(_complete, _cleanup, ("delete:done",)),
    "remove-pending": Scenario(
        _pending,
        _remove,
        ("move:staged", "delete:done"),
    ),
    "reap": Scenario(_running, _reap, IN_PLACE),
    "complete-then-sync": Scenario(_running, _complete_and_sync, (*IN_PLACE, "claims:synced")),
}


def target(steps: tuple[str, ...], index: int) -> tuple[str, int]:
    """The step at ``index`` as (name, how many times that name has been seen by then)."""
    name = steps[index]
    return name, steps[: index + 1].count(name)


def crash_at(name: str, occurrence: int) -> Callable[[str], None]:
    seen: dict[str, int] = {}

    def faults(step: str) -> None:
        seen[step] = seen.get(step, 0) + 1
        if (step, seen[step]) == (name, occurrence):
            os._exit(CRASH_EXIT)  # no cleanup, no finally: as SIGKILL would leave it

    return faults


def worker_to_json(worker: WorkerInfo) -> str:
    return json.dumps(
        {"name": worker.name, "host": worker.host, "pid": worker.pid, "started": worker.pid_started}
    )


def worker_from_json(text: str) -> WorkerInfo:
    doc = json.loads(text)
    return WorkerInfo(
        name=doc["name"], host=doc["host"], pid=doc["pid"], pid_started=doc["started"]
    )


def main() -> None:
    root, name, index, worker = sys.argv[1:]
    scenario = SCENARIOS[name]
    ctx = Ctx(Path(root), worker_from_json(worker), durable=True)
    scenario.setup(ctx)
    ctx.store.faults = crash_at(*target(scenario.steps, int(index)))
    scenario.run(ctx)
    sys.exit(3)  # the step was never reached


if __name__ == "__main__":
    main()
