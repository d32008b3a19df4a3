-- jobqueue's PostgreSQL schema, version 2: claims by one job type have an index in claim
-- order. A worker with one handler claims `type = $1 ORDER BY priority, run_at, id`:
-- with this index that is an index scan however many jobs wait, whatever the planner's
-- statistics say. Without it, a table not analyzed yet (a new store, a burst of jobs
-- before autovacuum's next ANALYZE) had every typed claim sort all the pending jobs of
-- the type: 2 ms at 3,000, seconds at a million.
CREATE INDEX jq_jobs_claim_type ON jq_jobs (type, priority, run_at, id) WHERE status = 'pending';
