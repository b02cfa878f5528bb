-- Claims that read only rows they can take. Two kinds of rows made every claim
-- slower while nothing looked wrong:
--
-- * Jobs not yet due. The claim index held every pending job, so a million jobs
--   due next month at a higher priority sat in front of every due job, and each
--   claim stepped over all of them. Now a pending job whose run_at is ahead is
--   `scheduled`: the database sets the flag whenever a row's run_at is written
--   (producers write only run_at, as before), scheduled jobs wait in an index
--   of their own ordered by run_at, and workers' stagers clear the flag shortly
--   before they fall due (visibility_stage_due_jobs). The claim index leaves
--   scheduled jobs out.
--
-- * Dead rows a pinned horizon keeps. A transaction left open (a report, a long
--   pg_dump) keeps every row version it might still see, so the claim index
--   keeps an entry for every job claimed since it began, at its front, and a
--   claim from the start of the index steps over all of them. The new claim
--   index orders by (app, -priority, run_at, id), one direction throughout, so
--   a claim can start after a position with a row comparison; a worker claims
--   after the last position it took and goes back to the start only as often
--   as the cost of doing so allows (docs/DESIGN.md, "The claim's position").
--
-- Gate: unchanged. Workers built before this migration never name `scheduled`
-- and claim through visibility_grant_jobs_claimable_heads_by_app, which stays
-- until 020: they take due jobs whatever the flag says. Builds for this
-- migration's claim need 020, which raises the gate and drops that index.

ALTER TABLE visibility_grant_jobs ADD COLUMN scheduled boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN visibility_grant_jobs.scheduled IS
    'Set by the database when a pending job''s run_at is written ahead of now; cleared by a worker''s stager shortly before the job falls due. Scheduled jobs are not in the claim index.';

-- Whoever writes run_at (a producer's INSERT or COPY, a retry's backoff, a
-- rescue, `retry`, an operator by hand), the flag follows it.
CREATE FUNCTION visibility_grant_jobs_schedule_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.scheduled := NEW.state = 'pending' AND NEW.run_at > now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER visibility_grant_jobs_schedule_new_rows
    BEFORE INSERT ON visibility_grant_jobs
    FOR EACH ROW
    WHEN (NEW.run_at > now() OR NEW.scheduled)
    EXECUTE FUNCTION visibility_grant_jobs_schedule_row();

CREATE TRIGGER visibility_grant_jobs_schedule_moved_rows
    BEFORE UPDATE OF run_at ON visibility_grant_jobs
    FOR EACH ROW
    WHEN (NEW.run_at IS DISTINCT FROM OLD.run_at)
    EXECUTE FUNCTION visibility_grant_jobs_schedule_row();

-- The stager: clears the flag of up to `most` scheduled jobs due within
-- `lookahead_seconds`, earliest first, and returns how many. A worker calls it
-- every second with a lookahead of two, so a job is in the claim index before
-- its run_at; when nothing is due it costs one probe of the top of
-- visibility_grant_jobs_scheduled_by_run_at. Workers pass each other: rows
-- another stager holds are skipped.
CREATE FUNCTION visibility_stage_due_jobs(lookahead_seconds float8, most int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    horizon timestamptz := now() + make_interval(secs => lookahead_seconds);
    moved int;
BEGIN
    IF NOT EXISTS (SELECT FROM visibility_grant_jobs WHERE scheduled AND state = 'pending' AND run_at <= horizon) THEN
        RETURN 0;
    END IF;
    WITH due AS (
        SELECT id FROM visibility_grant_jobs
        WHERE scheduled AND state = 'pending' AND run_at <= horizon
        ORDER BY run_at
        LIMIT most
        FOR UPDATE SKIP LOCKED
    )
    UPDATE visibility_grant_jobs AS j SET scheduled = false FROM due WHERE j.id = due.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END;
$$;

-- Pin search_path, as 014 does.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['visibility_grant_jobs_schedule_row()', 'visibility_stage_due_jobs(double precision, integer)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', name, home);
    END LOOP;
END;
$$;

-- migrate: after commit
-- The claim's order, one direction throughout so a claim can start after a
-- position: live work only (pending, its key's head, due or nearly).
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_claim_order
    ON visibility_grant_jobs (app, (-(priority::int)), run_at, id)
    WHERE state = 'pending' AND NOT ordering_blocked AND NOT scheduled;

-- migrate: after commit
-- What the stagers move next.
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_scheduled_by_run_at
    ON visibility_grant_jobs (run_at)
    WHERE scheduled AND state = 'pending';
