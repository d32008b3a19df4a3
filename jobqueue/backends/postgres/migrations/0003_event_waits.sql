-- jobqueue's PostgreSQL schema, version 3: a finishing event carries how long its attempt
-- waited from due to start (jobqueue.metrics.Sample.wait_s), so the dashboard's queue
-- latency chart reads samples, as metrics do, instead of decoding every `started` event's
-- job document. Events recorded before this have none.
ALTER TABLE jq_events ADD COLUMN wait_s double precision;
