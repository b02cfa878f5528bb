-- What `status` and `prune` need to stay cheap on a large queue.
-- Building these indexes blocks writes to the two tables while it runs (migrations
-- run in a transaction, so not CONCURRENTLY): on a large queue, migrate at a quiet time.

-- Recent activity (succeeded / failed / retried in the last minute and hour)
-- is read from the audit trail by time, from the index alone where it can.
CREATE INDEX visibility_grant_attempts_by_finished_at
    ON visibility_grant_attempts (finished_at) INCLUDE (outcome);

-- `prune` deletes finished jobs oldest first, in small batches.
CREATE INDEX visibility_grant_jobs_finished_by_finished_at
    ON visibility_grant_jobs (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled');

-- When a worker's current pause began, for `status`.
ALTER TABLE visibility_workers
    ADD COLUMN paused_since timestamptz NULL;
