-- jobqueue's PostgreSQL schema, version 1. Run by jobqueue.backends.postgres.migrations
-- inside one transaction with search_path set to the store's schema: names are unqualified.
-- This file and the ones after it are the only source of the schema: never edit a
-- released file, add the next number.

-- Jobs. A job's document (what `show --json` prints, as the file backend writes it) is
-- '{"status":"<status>",' || body || tail || '}': body holds metadata, params and
-- attempts, tail the keys of the status (started_at, worker, result ...). A heartbeat
-- rewrites the small tail only. The columns beside it are read off the document for the
-- indexes; body_digest and tail_digest are what a compare-and-set compares.
CREATE TABLE jq_jobs (
    id               text COLLATE "C" PRIMARY KEY,
    status           text NOT NULL
                     CHECK (status IN ('pending', 'running', 'complete', 'failed', 'cancelled')),
    type             text COLLATE "C" NOT NULL,
    priority         integer NOT NULL,
    run_at           timestamptz NOT NULL,
    unique_key       text,
    -- A job retried by hand while another held its key shares the key (the contract
    -- allows it): it is then left out of the unique index.
    key_shared       boolean NOT NULL DEFAULT false,
    -- The attempt's number (running) or the attempts made (otherwise): with started_at,
    -- the fence a cancel request names.
    attempt          integer NOT NULL,
    started_at       timestamptz,
    ended_at         timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    cancel_reason    text,
    cancel_at        timestamptz,
    body             text NOT NULL,
    tail             text NOT NULL,
    body_digest      bytea NOT NULL,
    tail_digest      bytea NOT NULL,
    -- The server's clock at the last write: for people, nothing compares it.
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (fillfactor = 80);

ALTER TABLE jq_jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

-- The claim order: lower priority first, then run_at, then id.
CREATE INDEX jq_jobs_claim ON jq_jobs (priority, run_at, id) WHERE status = 'pending';
-- oldest_due, next_due.
CREATE INDEX jq_jobs_due ON jq_jobs (run_at) WHERE status = 'pending';
-- scan by status (the reaper lists running jobs), and by type.
CREATE INDEX jq_jobs_status ON jq_jobs (status, id);
CREATE INDEX jq_jobs_type ON jq_jobs (type, id);
-- A unique key is held while its job is pending or running.
CREATE UNIQUE INDEX jq_jobs_unique_key ON jq_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'running') AND NOT key_shared;

-- Every job's document, whole, for people and ad hoc SQL.
CREATE VIEW jq_job_documents AS
    SELECT id, status, ('{"status":"' || status || '",' || body || tail || '}')::json AS document
    FROM jq_jobs;

-- The event log. Followers page by transaction, not by id: an id is taken before its
-- transaction commits, so a follower past it could miss a row that commits later.
CREATE TABLE jq_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    event       text NOT NULL,
    job_id      text COLLATE "C" NOT NULL,
    job_type    text NOT NULL,
    -- The event's time, read off the job (the clock of the process that wrote it).
    at          timestamptz NOT NULL,
    -- What metrics read without decoding the document (see jobqueue.metrics.Sample).
    retry_count integer,
    duration_s  double precision,
    document    text NOT NULL
);
CREATE INDEX jq_events_tx ON jq_events (tx, id);
CREATE INDEX jq_events_at ON jq_events (at);
-- Pruning by the server's clock: rows arrive in that order, so a BRIN index is enough.
CREATE INDEX jq_events_recorded ON jq_events USING brin (recorded_at);

CREATE TABLE jq_workers (
    name         text COLLATE "C" PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    pid_started  double precision,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    concurrency  integer NOT NULL,
    running      text[] NOT NULL,
    stale_after  double precision NOT NULL,
    types        text[] NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE jq_schedules (
    name       text COLLATE "C" PRIMARY KEY,
    document   text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE jq_shared (
    name       text COLLATE "C" PRIMARY KEY,
    data       bytea,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
