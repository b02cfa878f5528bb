-- Ordering keys: a job waits while an older job with the same key is pending or
-- running. This index answers "is there an older unfinished job for this key?"
-- from the few unfinished rows only.
CREATE INDEX visibility_grant_jobs_unfinished_by_ordering_key
    ON visibility_grant_jobs (ordering_key, id)
    WHERE ordering_key IS NOT NULL AND state IN ('pending', 'running');

-- What each worker reports with its heartbeat, for `status`: how many calls it
-- has in flight and any pause in force (config error, quota, ban) since when.
ALTER TABLE visibility_workers
    ADD COLUMN in_flight    int         NOT NULL DEFAULT 0,
    ADD COLUMN pause_reason text        NULL,
    ADD COLUMN paused_until timestamptz NULL;
