-- The write probe of stage "upgrade" (scripts/chaos) and scenario O (scripts/bench),
-- run by pgbench every 10 ms while `migrate` runs: what a producer's insert and a
-- worker's claim go through, in one transaction. It inserts one unkeyed job, takes
-- the row lock a claim takes, and cancels the job (cancelled is a finished state,
-- so the row needs finished_at), all before committing: no worker ever sees it
-- pending, so none calls the API for it.
BEGIN;
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES ('{dingprobe}', 'probe') RETURNING id AS probe_id \gset
SELECT id FROM visibility_grant_jobs WHERE id = :probe_id FOR UPDATE SKIP LOCKED;
UPDATE visibility_grant_jobs SET state = 'cancelled', finished_at = now(), updated_at = now() WHERE id = :probe_id;
COMMIT;
