"""The jobs part's SQL (``jobs``): one statement per change, the job row, its event
and its NOTIFY written together by data-modifying CTEs.

Table names are bare (``jq_jobs``): ``sql.qualify`` puts the schema in. ``{name}``
marks a part ``sql.fill`` sets (a type filter, the scan a claim takes its jobs from, the
event CTE of a move). The payloads of ``pg_notify`` are the listener's kinds.
"""

from __future__ import annotations

from .listener import EVENT, JOB

HOLDERS = "('pending', 'running')"

#: ``add``: a job without a unique key is a plain INSERT (an id already taken fails the
#: statement); only those with a key take the ``ON CONFLICT`` path, whose speculative
#: insertion costs every row it handles. One row per stored keyed job (``id``), per key
#: found held (``key``), and one that fires the NOTIFYs (``woken``).
ADD = f"""
WITH input AS (
    SELECT * FROM unnest(
        %(ids)b::text[], %(types)b::text[], %(priorities)b::integer[],
        %(run_ats)b::timestamptz[], %(keys)b::text[], %(attempts)b::integer[],
        %(bodies)b::text[], %(body_digests)b::bytea[], %(ats)b::timestamptz[],
        %(retry_counts)b::integer[]
    ) WITH ORDINALITY AS i(id, type, priority, run_at, unique_key, attempt, body,
                           body_digest, at, retry_count, n)
), held AS (
    SELECT DISTINCT ON (j.unique_key) j.unique_key, j.status, j.body, j.tail
    FROM jq_jobs j
    WHERE j.unique_key IN (SELECT i.unique_key FROM input i WHERE i.unique_key IS NOT NULL)
      AND j.status IN {HOLDERS}
    ORDER BY j.unique_key, j.key_shared, j.id
), keyless AS (
    INSERT INTO jq_jobs (id, status, type, priority, run_at, attempt, body, tail,
                         body_digest, tail_digest)
    SELECT i.id, 'pending', i.type, i.priority, i.run_at, i.attempt, i.body, '',
           i.body_digest, %(tail_digest)s
    FROM input i
    WHERE i.unique_key IS NULL
), keyed AS (
    INSERT INTO jq_jobs AS j (id, status, type, priority, run_at, unique_key, attempt,
                              body, tail, body_digest, tail_digest)
    SELECT i.id, 'pending', i.type, i.priority, i.run_at, i.unique_key, i.attempt,
           i.body, '', i.body_digest, %(tail_digest)s
    FROM input i
    WHERE i.unique_key IS NOT NULL AND i.unique_key NOT IN (SELECT h.unique_key FROM held h)
    ORDER BY i.n
    ON CONFLICT (unique_key)
        WHERE unique_key IS NOT NULL AND status IN {HOLDERS} AND NOT key_shared
        DO NOTHING
    RETURNING j.id
), recorded AS (
    INSERT INTO jq_events (event, job_id, job_type, at, retry_count, document)
    SELECT 'created', i.id, i.type, i.at, i.retry_count, '{{"status":"pending",' || i.body || '}}'
    FROM input i
    WHERE i.unique_key IS NULL OR i.id IN (SELECT k.id FROM keyed k)
    ORDER BY i.n
), woken AS (
    SELECT pg_notify(%(channel)s, '{JOB}'), pg_notify(%(channel)s, '{EVENT}')
    FROM (SELECT 1 FROM input i WHERE i.unique_key IS NULL
          UNION ALL SELECT 1 FROM keyed LIMIT 1) AS one
)
SELECT 'woken', NULL, NULL, NULL, NULL FROM woken
UNION ALL
SELECT 'id', k.id, NULL, NULL, NULL FROM keyed k
UNION ALL
SELECT 'key', h.unique_key, h.status, h.body, h.tail FROM held h
"""

CLAIM = f"""
WITH next AS MATERIALIZED ({{next}}
), claimed AS (
    UPDATE jq_jobs j
    SET status = 'running', tail = %(tail)s, tail_digest = %(tail_digest)s,
        attempt = j.attempt + 1, started_at = %(now)s, cancel_requested = false,
        cancel_reason = NULL, cancel_at = NULL, updated_at = clock_timestamp()
    FROM next WHERE j.id = next.id
    RETURNING j.id, j.type, j.body, j.priority, j.run_at
), recorded AS (
    INSERT INTO jq_events (event, job_id, job_type, at, document)
    SELECT 'started', c.id, c.type, %(now)s, '{{"status":"running",' || c.body || %(tail)s || '}}'
    FROM claimed c ORDER BY c.priority, c.run_at, c.id
)
SELECT c.id, c.body, pg_notify(%(channel)s, '{EVENT}') FROM claimed c
ORDER BY c.priority, c.run_at, c.id
"""

MOVE = f"""
WITH moved AS (
    UPDATE jq_jobs SET
        status = %(status)s, priority = %(priority)s, run_at = %(run_at)s,
        unique_key = %(unique_key)s,
        key_shared = CASE
            WHEN NOT %(holds_key)s THEN false
            WHEN status IN {HOLDERS} THEN key_shared
            ELSE EXISTS (
                SELECT 1 FROM jq_jobs o
                WHERE o.unique_key = %(unique_key)s AND o.status IN {HOLDERS}
                  AND NOT o.key_shared AND o.id <> %(id)s)
        END,
        attempt = %(attempt)s, started_at = %(started_at)s, ended_at = %(ended_at)s,
        body = {{body}}, body_digest = %(body_digest)s,
        tail = %(tail)s, tail_digest = %(tail_digest)s,
        cancel_requested = cancel_requested AND status = %(status)s,
        cancel_reason = CASE WHEN status = %(status)s THEN cancel_reason END,
        cancel_at = CASE WHEN status = %(status)s THEN cancel_at END,
        updated_at = clock_timestamp()
    WHERE id = %(id)s AND body_digest = %(old_body_digest)s
      AND tail_digest = %(old_tail_digest)s
    RETURNING id, type, status, body, tail
){{recorded}}
SELECT m.id{{notify}} FROM moved m
"""

RECORD_MOVE = """, recorded AS (
    INSERT INTO jq_events (event, job_id, job_type, at, retry_count, duration_s, wait_s,
                           document)
    SELECT %(event)s, m.id, m.type, %(at)s, %(retry_count)s, %(duration_s)s, %(wait_s)s,
           '{"status":"' || m.status || '",' || m.body || m.tail || '}'
    FROM moved m
)"""

DELETE = """
DELETE FROM jq_jobs WHERE id = %(id)s AND body_digest = %(body_digest)s
  AND tail_digest = %(tail_digest)s
"""
GET = "SELECT status, body, tail FROM jq_jobs WHERE id = %s"
COUNTS = """
SELECT status, count(*), count(*) FILTER (WHERE run_at > %(now)s) FROM jq_jobs GROUP BY status
"""
OLDEST_DUE = "SELECT min(run_at) FROM jq_jobs WHERE status = 'pending' AND run_at <= %(now)s"
NEXT_DUE = "SELECT min(run_at) FROM jq_jobs WHERE status = 'pending' {types}"
TYPES = "AND type = ANY(%(types)s::text[])"

#: ``{next}`` of ``CLAIM`` for any type: the claim index, in claim order.
NEXT_ANY = """
    SELECT id FROM jq_jobs
    WHERE status = 'pending' AND run_at <= %(now)s
    ORDER BY priority, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED"""
#: ``{next}`` for some types: the best due jobs of each type, an index scan of
#: ``jq_jobs_claim_type`` each, merged in claim order; up to ``limit`` jobs of each type
#: are locked while the statement runs, ``limit`` claimed. Every other form left the
#: plan to the statistics, and some statistics gave a slow one (EXPLAIN, a million
#: pending): ``type = ANY(...)`` on a table not analyzed yet (a new store, a burst before
#: autovacuum's next ANALYZE) sorted every pending job, 1.7 s a claim; ``type = t.type``
#: in the loop, once analyzed, walked the claim index past every job of the other types
#: for a type with none, 0.4 s. The type is tested as a range (``>=`` and ``<=``), not
#: an equality, and leads the ORDER BY: only ``jq_jobs_claim_type`` gives that order.
NEXT_OF_TYPES = """
    SELECT c.id FROM unnest(%(types)s::text[]) AS t(type)
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at FROM jq_jobs j
        WHERE j.status = 'pending' AND j.run_at <= %(now)s
          AND j.type >= t.type COLLATE "C" AND j.type <= t.type COLLATE "C"
        ORDER BY j.type, j.priority, j.run_at, j.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) c
    ORDER BY c.priority, c.run_at, c.id
    LIMIT %(limit)s"""
#: ``{next}`` for one type: the scan of ``NEXT_OF_TYPES`` (see there), without the loop.
NEXT_OF_TYPE = """
    SELECT id FROM jq_jobs
    WHERE status = 'pending' AND run_at <= %(now)s
      AND type >= %(type)s COLLATE "C" AND type <= %(type)s COLLATE "C"
    ORDER BY type, priority, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED"""
