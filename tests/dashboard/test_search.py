"""jobqueue.search: the language, and its evaluation over keyset pages with a cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobqueue import JobQueue
from jobqueue.errors import InvalidJob
from jobqueue.search import FIRST_BATCH, Limits, count, find, parse

from .seed import seed


def ids(found: object) -> list[str]:
    return [job.metadata.id for job in found.jobs]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("colour:red", "unknown qualifier colour:"),
        ("type:", "type: needs a value"),
        ("status:done", "unknown status 'done'"),
        ("created:2h", "created: takes an age"),
        ("created:>soon", "invalid duration"),
        ('error:"open', "close the double quote"),
        ("params..a:1", "names between the dots"),
        ("type:../x", "type"),
    ],
)
def test_bad_searches_say_what_is_wrong(q: str, message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        parse(q)


def test_store_side_parts_are_pushed_down() -> None:
    search = parse("type:resize status:failed status:cancelled params.a:1")
    assert (search.type, search.statuses, len(search.tests)) == (
        "resize", ("failed", "cancelled"), 1,
    )  # fmt: skip
    assert search.narrowed("failed").statuses == ("failed",)
    # narrowed to a status the query excludes, it matches nothing:
    assert not parse("status:failed").narrowed("pending").matches({}, None)  # type: ignore[arg-type]


def test_param_paths_compare_text_loosely_and_scalars_exactly(queue: JobQueue) -> None:
    a = queue.enqueue("t", {"file": {"name": "Photo.PNG", "tags": ["x", "y"]}, "n": 3, "ok": True})
    b = queue.enqueue("t", {"file": {"name": "doc.txt"}, "n": 30, "ok": None})
    c = queue.enqueue("t", ["list", "params"])
    everything = find(queue, parse(""), limit=10)
    assert ids(everything) == [c.metadata.id, b.metadata.id, a.metadata.id]

    def matching(q: str) -> list[str]:
        return ids(find(queue, parse(q), limit=10))

    assert matching("params.file.name:png") == [a.metadata.id]
    assert matching("params.file.tags.1:y") == [a.metadata.id]
    assert matching("params.n:3") == [a.metadata.id]  # not 30
    assert matching("params.ok:true") == [a.metadata.id]
    assert matching("params.ok:null") == [b.metadata.id]
    assert matching("params.0:list") == [c.metadata.id]
    assert matching("params.missing:x") == []


def test_errors_workers_and_ages(queue: JobQueue) -> None:
    seeded = seed(queue)
    assert ids(find(queue, parse("error:valueerror"), limit=10)) == [seeded["failed"]]
    assert ids(find(queue, parse("pixel"), limit=10)) == [seeded["failed"]]  # free text
    assert set(ids(find(queue, parse("worker:test-host"), limit=10))) == {
        seeded["failed"], seeded["complete"], seeded["running"],
    }  # fmt: skip
    now = queue.clock.now()
    later = now + timedelta(hours=3)
    doc = {"metadata": {"created": now.isoformat()}}
    assert parse("created:>2h").matches(doc, later)
    assert not parse("created:<2h").matches(doc, later)
    assert parse("created:<2h").matches(doc, now)


def test_an_id_is_looked_up_not_scanned(queue: JobQueue) -> None:
    seeded = seed(queue)
    found = find(queue, parse(f"id:{seeded['failed']}"), limit=10, limits=Limits(jobs=1))
    assert ids(found) == [seeded["failed"]] and found.scanned == 1
    assert ids(find(queue, parse(f"id:{seeded['failed']} status:pending"), limit=10)) == []
    assert count(queue, parse(f"id:{seeded['failed']}")).n == 1


def test_keyset_pages_of_matches(queue: JobQueue) -> None:
    made = [queue.enqueue("even" if n % 2 == 0 else "odd", {"n": n}).metadata.id for n in range(40)]
    evens = [m for n, m in enumerate(made) if n % 2 == 0][::-1]  # newest first
    q = parse("type:even")
    first = find(queue, q, limit=8)
    assert ids(first) == evens[:8] and first.more
    second = find(queue, q, limit=8, after=evens[7])
    assert ids(second) == evens[8:16]
    back = find(queue, q, limit=8, before=evens[8])
    assert ids(back) == evens[:8] and not back.more
    filtered = parse("even")  # a document test, not pushed down
    page = find(queue, filtered, limit=5, after=evens[2])
    assert ids(page) == evens[3:8]
    oldest_first = find(queue, filtered, limit=3, newest_first=False)
    assert ids(oldest_first) == evens[::-1][:3]


def test_the_cap_is_honest(queue: JobQueue) -> None:
    queue.enqueue("needle", {})
    queue.enqueue_many("hay", [{}] * 50)
    found = find(queue, parse("needle"), limit=10, limits=Limits(jobs=20))
    assert (ids(found), found.scanned, found.capped) == ([], 20, True)
    assert found.resume is not None
    rest = find(queue, parse("needle"), limit=10, after=found.resume, limits=Limits(jobs=40))
    assert len(rest.jobs) == 1 and not rest.capped
    capped = count(queue, parse("hay"), limits=Limits(jobs=20))
    assert (capped.n, capped.capped) == (20, True)
    exact = count(queue, parse("hay"))
    assert (exact.n, exact.capped) == (50, False)
    assert count(queue, parse("")).n == 51 and not count(queue, parse("")).capped  # from stats


class Ticks:
    """A timer that moves one second at every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_the_time_budget_stops_between_batches_and_says_so(queue: JobQueue) -> None:
    queue.enqueue("needle", {})
    queue.enqueue_many("hay", [{}] * (FIRST_BATCH * 3))
    slow = Limits(seconds=0.5, timer=Ticks())  # late at once: only the first batch is read
    found = find(queue, parse("needle"), limit=10, limits=slow)
    assert (found.jobs, found.scanned, found.capped) == ([], FIRST_BATCH, True)
    assert found.resume is not None
    counted = count(queue, parse("hay"), limits=Limits(seconds=0.5, timer=Ticks()))
    assert (counted.n, counted.capped) == (FIRST_BATCH, True)
    whole = count(queue, parse("hay"), limits=Limits(seconds=None))
    assert (whole.n, whole.capped) == (FIRST_BATCH * 3, False)


def test_a_page_and_its_count_come_from_one_scan(queue: JobQueue) -> None:
    made = [queue.enqueue("t", {"even": n % 2 == 0}).metadata.id for n in range(30)]
    found = find(queue, parse("params.even:true"), limit=4, count_all=True)
    evens = [m for n, m in enumerate(made) if n % 2 == 0][::-1]
    assert ids(found) == evens[:4]
    assert (found.more, found.matched, found.capped) == (True, 15, False)
    assert found.count.n == 15
