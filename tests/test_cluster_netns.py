"""Several hosts for real: workers in three network namespaces with hostnames of their
own (host1..host3) drain jobs from a PostgreSQL server over veth links while one is
SIGKILLed, one SIGSTOPped past ``stale_after``, one host's link is cut, and one host is
cut while a statement of its worker waits for its answer and the server forgets it (as
a restart or failover would). The drill is tests/cluster_drill.py (on the hosts of
tests/cluster_hosts.py), also run by ``scripts/cluster_demo.py``; every promise it must
show is in tests/cluster_checks.py.

Needs root, ``ip``, ``ss``, ``unshare`` and the PostgreSQL binaries; it skips without
root or those tools, and without the binaries unless JOBQUEUE_REQUIRE_POSTGRES=1 (CI),
which makes that a failure.
"""

from __future__ import annotations

from pathlib import Path

import cluster_checks
import cluster_drill
import cluster_hosts
import postgres_cluster
import pytest

from jobqueue.backends.postgres.database import CONNECTION_DEFAULTS, connection_options

KINDS = ["kill", "stop", "cut", "forget"]
HERE = Path(__file__).relative_to(Path(__file__).parent.parent)


@pytest.mark.timeout(90)
def test_three_hosts_lose_no_job_and_fence_the_workers_they_lost(tmp_path: Path) -> None:
    lacking = cluster_hosts.missing()
    if lacking:
        pytest.skip(f"{lacking}: run it as root, as CI does (sudo .venv/bin/pytest {HERE})")
    if postgres_cluster.find_binaries() is None:
        postgres_cluster.give_up(postgres_cluster.SKIP)
    with cluster_drill.drill_parts(tmp_path) as drill:
        record = drill.run()
    found = cluster_checks.check(record)

    assert found.problems == []
    assert found.complete == found.jobs == record.enqueued >= 20
    assert set(found.attempt_hosts) == {"host1", "host2", "host3"}
    faults = {fault.kind: fault for fault in record.faults}
    assert list(faults) == KINDS
    assert all(fault.caught for fault in record.faults)
    caught = {(run.job_id, run.attempt) for fault in record.faults for run in fault.caught}
    assert found.lost_attempts >= len(caught)
    for kind in KINDS[1:]:  # every late writer of a lost attempt was refused, soon enough
        refused = [job_id for job_id, _ in found.refused[kind]]
        assert sorted(refused) == sorted(run.job_id for run in faults[kind].caught)
    assert {kind for kind, _, _ in found.overlaps} <= set(KINDS[1:])


def test_connections_give_up_on_a_silent_server_unless_the_url_says_otherwise() -> None:
    """What the drill's "forget" needs: without keepalives and a user timeout, the worker
    waited for ever for an answer that could not come (and so did its SIGTERM)."""
    ours = connection_options("postgresql://u@db/app", "jobqueue s")
    assert ours["keepalives"] == 1 and ours["keepalives_idle"] <= 10
    assert ours["tcp_user_timeout"] <= 30_000 and ours["autocommit"] is True
    theirs = connection_options("postgresql://u@db/app?connect_timeout=20&keepalives_idle=60", "x")
    assert "connect_timeout" not in theirs and "keepalives_idle" not in theirs
    assert theirs["keepalives_count"] == CONNECTION_DEFAULTS["keepalives_count"]
