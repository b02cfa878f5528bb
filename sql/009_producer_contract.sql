-- The producer contract, enforced by the database: producers write only their
-- own columns, a new job starts as a job nothing has happened to yet, and every
-- value a producer sends is bounded. Three layers, each refusing by a name:
--
--   1. Column privileges: visibility_producer may INSERT only the producer
--      columns. PostgreSQL refuses any other column before the row is built:
--        permission denied for table visibility_grant_jobs   (SQLSTATE 42501)
--   2. A guard trigger for every other role that can insert whole rows (the
--      schema owner, a login granted INSERT on the table): a new row starts
--      pending, with 0 attempts, no lease, no outcome, stamped now.
--        new row for relation "visibility_grant_jobs" violates rule "new_jobs_must_start_pending" ...
--   3. CHECK constraints on lengths, priority and run_at, for everyone.
--
-- Applies on its own after 007; it depends on nothing newer.

-- Fail rather than queue: ADD CONSTRAINT and CREATE TRIGGER need a lock that waits
-- for every open transaction on the table, and every producer and worker would
-- queue behind that wait. Run `migrate` again when the table is quieter.
SET LOCAL lock_timeout = '10s';

-- 1. Column privileges. SELECT stays as 005 granted it (whole rows, and RETURNING id).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_producer') THEN
        REVOKE INSERT ON visibility_grant_jobs FROM visibility_producer;
        GRANT INSERT (to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at, max_attempts)
            ON visibility_grant_jobs TO visibility_producer;
    END IF;
END;
$$;

-- 2. Rows queued before the bounds existed, fixed first: these scans take no lock
-- that stops producers, unlike the trigger and constraints below.

-- The longest entry of a text[] (a CHECK may not hold a subquery itself).
-- Qualified names: the body is parsed under the inserting user's search_path.
CREATE FUNCTION visibility_longest_entry(text[]) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT pg_catalog.max(pg_catalog.length(entry)) FROM pg_catalog.unnest($1) AS entry
$$;

-- Priority only orders claims, so values out of range are clamped. An
-- unfinished job that breaks any other bound is failed, saying which: left
-- pending, every claim that picked it would be refused by the constraint and
-- take its whole batch with it. A failed job's run_at means nothing until a
-- `retry`, which sets it to now, so one too far ahead is set to now here too
-- (the message keeps the old value).
UPDATE visibility_grant_jobs
SET priority = greatest(-100, least(100, priority))
WHERE priority NOT BETWEEN -100 AND 100;

UPDATE visibility_grant_jobs
SET state = 'failed', locked_by = NULL, locked_until = NULL, finished_at = now(), updated_at = now(),
    last_http_status = NULL, last_request_id = NULL, last_error_code = 'job.out_of_bounds',
    last_error_message = 'failed by migration 009: ' || concat_ws(', ',
        CASE WHEN visibility_longest_entry(to_corp_ids) > 64 THEN 'a corp id over 64 characters' END,
        CASE WHEN length(opt_user_id) > 128 THEN 'opt_user_id over 128 characters' END,
        CASE WHEN length(idempotency_key) > 256 THEN 'idempotency_key over 256 characters' END,
        CASE WHEN length(ordering_key) > 256 THEN 'ordering_key over 256 characters' END,
        CASE WHEN cardinality(fields) > 2 THEN 'more than 2 fields' END,
        CASE WHEN run_at > updated_at + interval '8784 hours' THEN 'run_at more than 366 days ahead (' || run_at || ')' END),
    run_at = CASE WHEN run_at > updated_at + interval '8784 hours' THEN now() ELSE run_at END
WHERE state IN ('pending', 'running')
  AND (visibility_longest_entry(to_corp_ids) > 64 OR length(opt_user_id) > 128 OR length(idempotency_key) > 256
       OR length(ordering_key) > 256 OR cardinality(fields) > 2 OR run_at > updated_at + interval '8784 hours');

-- 3. The guard. It cannot be a CHECK constraint: a CHECK sees neither the role
-- nor whether the row is new, and workers must be able to move a row to running,
-- succeeded or failed.
--
-- Who may write the workers' columns: members of visibility_worker (with its
-- privileges) and superusers. A superuser passes every check anyway (it can
-- disable triggers), and operator repairs such as reloading rows with their
-- history need one role that can. The schema owner is NOT exempt: small setups
-- let producers connect as the owner, and that is exactly the case to guard.
-- The same function can serve row-level security policies later (workers see
-- every row; a producer only rows it is entitled to).
CREATE FUNCTION visibility_acts_as_worker() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false)
        -- By oid, so a database whose roles were never created (see 005) gets false, not an error.
        OR coalesce((SELECT pg_catalog.pg_has_role(current_user, oid, 'USAGE')
                     FROM pg_catalog.pg_roles WHERE rolname = 'visibility_worker'), false)
$$;

COMMENT ON FUNCTION visibility_acts_as_worker() IS
    'True for members of visibility_worker and superusers: the sessions that may write the workers'' columns.';

CREATE FUNCTION visibility_grant_jobs_guard_new_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rule  text;
    what  text;
BEGIN
    IF visibility_acts_as_worker() THEN
        RETURN NEW;
    END IF;
    IF NEW.state IS DISTINCT FROM 'pending' THEN
        rule := 'new_jobs_must_start_pending';
        what := 'state is written by workers; a new job starts pending';
    ELSIF NEW.attempts IS DISTINCT FROM 0 THEN
        rule := 'new_jobs_must_start_with_0_attempts';
        what := 'attempts are counted by workers; a new job starts at 0';
    ELSIF NEW.locked_by IS NOT NULL OR NEW.locked_until IS NOT NULL THEN
        rule := 'new_jobs_must_start_without_a_lease';
        what := 'locked_by and locked_until are a worker''s lease; a new job has none';
    ELSIF NEW.finished_at IS NOT NULL OR NEW.last_http_status IS NOT NULL OR NEW.last_error_code IS NOT NULL
          OR NEW.last_error_message IS NOT NULL OR NEW.last_request_id IS NOT NULL THEN
        rule := 'new_jobs_must_start_without_an_outcome';
        what := 'finished_at and last_* record what an attempt did; a new job has not been tried';
    ELSIF NEW.created_at IS DISTINCT FROM now() OR NEW.updated_at IS DISTINCT FROM now() THEN
        rule := 'new_jobs_must_start_now';
        what := 'created_at and updated_at are set by the database';
    ELSE
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'new row for relation "visibility_grant_jobs" violates rule "%": %', rule, what
        USING ERRCODE = 'check_violation', CONSTRAINT = rule, TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
              HINT = 'insert only to_corp_ids, opt_user_id, fields, idempotency_key, ordering_key, priority, run_at and max_attempts';
END;
$$;

-- WHEN keeps the ordinary row (every worker column at its default) out of
-- PL/pgSQL altogether, so bulk loads pay nothing for the guard.
CREATE TRIGGER visibility_grant_jobs_guard_new_rows
    BEFORE INSERT ON visibility_grant_jobs
    FOR EACH ROW
    WHEN (NEW.state IS DISTINCT FROM 'pending' OR NEW.attempts IS DISTINCT FROM 0
          OR NEW.locked_by IS NOT NULL OR NEW.locked_until IS NOT NULL
          OR NEW.finished_at IS NOT NULL OR NEW.last_http_status IS NOT NULL OR NEW.last_error_code IS NOT NULL
          OR NEW.last_error_message IS NOT NULL OR NEW.last_request_id IS NOT NULL
          OR NEW.created_at IS DISTINCT FROM now() OR NEW.updated_at IS DISTINCT FROM now())
    EXECUTE FUNCTION visibility_grant_jobs_guard_new_row();

-- Both functions run as the inserting user, under that user's search_path: pin
-- it, so nobody can slip in a visibility_acts_as_worker() of their own. (The
-- table's owner can still disable the trigger: the guard stops mistakes and
-- other roles, not the owner.)
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
BEGIN
    ALTER FUNCTION visibility_acts_as_worker() SET search_path = pg_catalog, pg_temp;
    EXECUTE format('ALTER FUNCTION visibility_grant_jobs_guard_new_row() SET search_path = pg_catalog, %I, pg_temp', home);
END;
$$;

-- 4. Bounds, for everyone. NOT VALID: adding a constraint is then a catalog
-- change, not a scan of the table under its lock. New and updated rows are
-- checked from here on either way.
ALTER TABLE visibility_grant_jobs
    -- DingTalk corp ids are "ding" plus 32 hex characters (36); 64 leaves room
    -- for a longer format without letting a megabyte through.
    ADD CONSTRAINT to_corp_ids_entries_must_be_at_most_64_characters
        CHECK (visibility_longest_entry(to_corp_ids) <= 64) NOT VALID,
    -- DingTalk user ids are at most 64 characters (generated ones are ~18
    -- digits); 128 is twice DingTalk's own limit.
    ADD CONSTRAINT opt_user_id_must_be_at_most_128_characters
        CHECK (length(opt_user_id) <= 128) NOT VALID,
    -- The producer's own keys: a UUID (36), a hash (64) with a prefix, a
    -- composite of ids. 256 characters (at most 1 KiB of UTF-8) also keeps the
    -- unique index far below btree's ~2.7 kB entry limit, whose own error is unreadable.
    ADD CONSTRAINT idempotency_key_must_be_at_most_256_characters
        CHECK (length(idempotency_key) <= 256) NOT VALID,
    -- Usually a corp or user id; 256 for the same reasons, for its index (004).
    ADD CONSTRAINT ordering_key_must_be_at_most_256_characters
        CHECK (length(ordering_key) <= 256) NOT VALID,
    -- fields holds mobile and/or status (001); duplicates could still make it any size.
    ADD CONSTRAINT fields_must_have_at_most_2_entries
        CHECK (cardinality(fields) <= 2) NOT VALID,
    -- 201 levels are more than any set of producers needs; a value beyond them
    -- is a bug (a timestamp or counter landing in priority) or an attempt to
    -- jump every queue, and a known range lets producers agree on a scale.
    ADD CONSTRAINT priority_must_be_minus_100_to_100
        CHECK (priority BETWEEN -100 AND 100) NOT VALID,
    -- A year ahead at most, taken as 366 days so a leap year never cuts it short,
    -- and in hours so the session's time zone cannot move it. Measured from
    -- updated_at, which is now() when a row is inserted and whenever a statement
    -- changes run_at (claim, complete, retry, rescue), so the CHECK needs no
    -- clock of its own and holds on every later update too.
    ADD CONSTRAINT run_at_must_be_at_most_366_days_ahead
        CHECK (run_at <= updated_at + interval '8784 hours') NOT VALID;

-- VALIDATE scans the table. The migrator runs this file in one transaction, so
-- that scan would hold the lock ADD CONSTRAINT took, and stop producers, for as
-- long as it runs: the corp id check costs about 5 µs a row (measured on a
-- 2-core machine), so up to 100,000 rows it is done here, in under a second.
-- A larger table is left to the operator: VALIDATE in a transaction of its own
-- takes a lock that lets producers and workers go on (docs/OPERATIONS.md,
-- "Producer limits"). Finished rows from before may break a bound; that
-- constraint then stays NOT VALID (new and updated rows are still checked) and
-- the warning names it.
DO $$
DECLARE
    constraint_name text;
    estimated_rows float4 := (SELECT reltuples FROM pg_class WHERE oid = 'visibility_grant_jobs'::regclass);
BEGIN
    FOREACH constraint_name IN ARRAY ARRAY[
        'to_corp_ids_entries_must_be_at_most_64_characters', 'opt_user_id_must_be_at_most_128_characters',
        'idempotency_key_must_be_at_most_256_characters', 'ordering_key_must_be_at_most_256_characters',
        'fields_must_have_at_most_2_entries', 'priority_must_be_minus_100_to_100',
        'run_at_must_be_at_most_366_days_ahead'
    ] LOOP
        IF estimated_rows > 100000 THEN
            RAISE WARNING 'visibility_grant_jobs has about % rows: run ALTER TABLE visibility_grant_jobs VALIDATE CONSTRAINT % after this migration (it does not block producers or workers)',
                estimated_rows::bigint, constraint_name;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('ALTER TABLE visibility_grant_jobs VALIDATE CONSTRAINT %I', constraint_name);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'constraint % left NOT VALID: finished jobs from before it break it (new rows are checked); see docs/OPERATIONS.md',
                constraint_name;
        END;
    END LOOP;
END;
$$;
