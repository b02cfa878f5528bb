-- Gates that hold for workers that are already running. Until now a worker read
-- oldest_worker_schema only when it started, so one started before a migration
-- that raised the gate went on claiming after it. A worker built before 010
-- (apps) then claimed every app's jobs and called DingTalk with its one app's
-- token: a grant meant for one organization went out under another's authority.
--
-- From here on a claim says which migration its build knows: this build's claim
-- statement sets visibility.worker_schema for its own transaction. A statement
-- that moves jobs to running is refused unless that number reaches
-- oldest_worker_schema. Builds before this migration set no number, so every
-- one of them that is still running stops claiming the moment this commits,
-- with the gate's message in its log. What it already claimed still finishes:
-- outcomes, lease extensions and rescues are not claims. Builds from this
-- migration on also read the gate with every heartbeat and stop by themselves
-- once it is raised past them.
--
-- Gate: raised to 18. Workers built before 018 cannot claim any more.

UPDATE visibility_schema_compatibility SET oldest_worker_schema = 18;

CREATE FUNCTION visibility_grant_jobs_fence_claims() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    oldest int;
    known int;
BEGIN
    -- Outcomes and most other updates leave no job running: nothing to check.
    IF NOT EXISTS (SELECT FROM updated_rows WHERE state = 'running') THEN
        RETURN NULL;
    END IF;
    SELECT oldest_worker_schema INTO oldest FROM visibility_schema_compatibility;
    known := coalesce(nullif(current_setting('visibility.worker_schema', true), '')::int, 0);
    IF known >= oldest THEN
        RETURN NULL;
    END IF;
    -- A lease extension keeps jobs running; only a job that starts running is a claim.
    IF EXISTS (SELECT FROM updated_rows AS n JOIN earlier_rows AS o ON o.id = n.id
               WHERE n.state = 'running' AND o.state <> 'running') THEN
        RAISE EXCEPTION 'claim refused: this database needs workers built for migration % or later, and this worker''s build %',
            oldest, CASE WHEN known = 0 THEN 'is older than migration 18' ELSE 'knows up to migration ' || known END
            USING ERRCODE = '55000',
                  HINT = 'upgrade this worker; `visibility-worker --version` prints the migration a build requires';
    END IF;
    RETURN NULL;
END;
$$;

-- Named to run before visibility_grant_jobs_order_after_update (triggers fire in
-- name order): a refused claim chooses no heads.
CREATE TRIGGER visibility_grant_jobs_fence_claims
    AFTER UPDATE ON visibility_grant_jobs
    REFERENCING OLD TABLE AS earlier_rows NEW TABLE AS updated_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION visibility_grant_jobs_fence_claims();

-- 010 named this constraint with 66 characters; PostgreSQL kept the first 63.
ALTER TABLE visibility_apps
    RENAME CONSTRAINT app_name_must_be_1_to_64_letters_digits_dots_dashes_or_undersco
    TO app_name_must_be_1_to_64_letters_digits_dots_dashes_underscores;

-- Pin search_path, as 014 does.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
BEGIN
    EXECUTE format('ALTER FUNCTION visibility_grant_jobs_fence_claims() SET search_path = pg_catalog, %I, pg_temp', home);
END;
$$;
