-- `status` and the console at any size. The rows they count that no worker
-- leaves behind, and the jobs waiting on a 429, were found by reading every
-- row of a state (every pending job, every succeeded job): seconds on ten
-- million rows. Each shape gets a partial index that holds only such rows. On
-- a queue only workers wrote they are empty, and a write pays only the check
-- of their predicates: the columns they name were already indexed (state in
-- every partial index, finished_at, attempts and last_http_status change only
-- with the state), so no update that was HOT stops being one.
--
-- Gate: unchanged. Nothing here changes what a worker of 020 reads or writes.

-- The NULL end of visibility_grant_jobs_finished_by_finished_at holds these too,
-- but the planner, taking state and finished_at as independent, expects a sixth
-- of the table there and sends parallel workers to read an empty range.
-- migrate: after commit
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_finished_without_finished_at
    ON visibility_grant_jobs (id)
    WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at IS NULL;

-- migrate: after commit
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_unfinished_with_finished_at
    ON visibility_grant_jobs (id)
    WHERE state IN ('pending', 'running') AND finished_at IS NOT NULL;

-- migrate: after commit
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_succeeded_without_attempt
    ON visibility_grant_jobs (id)
    WHERE state = 'succeeded' AND attempts = 0;

-- migrate: after commit
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_pending_after_http_429
    ON visibility_grant_jobs (app)
    WHERE state = 'pending' AND last_http_status = 429;
