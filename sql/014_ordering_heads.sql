-- Ordering keys at scale: jobs waiting behind an older job of their key cost the
-- claim nothing, and a key's next job is claimable the moment its predecessor
-- finishes.
--
-- Before this, the claim checked every pending keyed row it met for an older
-- unfinished job of its key (004). 50,000 jobs waiting on one key meant 50,000
-- probes in every claim. Now each job carries `ordering_blocked`, kept by the
-- database in the same transactions that change jobs:
--
--   * a keyed job is blocked while its key has another unfinished (pending or
--     running) job that goes first; of a key's unfinished jobs exactly one is not
--     blocked, the key's head: the running one if there is one, else the pending
--     one with the lowest id. Jobs without a key are never blocked.
--   * the claim index holds unblocked pending jobs only, so blocked jobs are not
--     in the claim's way at all.
--   * when a key's jobs are inserted, finish (succeeded, failed, cancelled), come
--     back (`retry`) or are deleted unfinished, the key's head is chosen again,
--     under a per-key advisory lock held to the end of the transaction, so
--     concurrent inserts and finishes of one key see each other. A new head is
--     announced on visibility_grant_jobs, the channel new jobs use, so an idle
--     worker claims it at once instead of at its next poll.
--
-- Order is what it was: a job runs only when no older job of its key is pending
-- or running, in id order. Ids are drawn before a row's triggers run, and two
-- producers can commit one key's jobs out of id order: the head is chosen by id
-- among what has committed, so a job that commits late with a lower id goes
-- first unless a newer one has already started (then it waits for that one, as
-- it would not have been claimable before either). A head with run_at in the
-- future (a retry's backoff) holds its key until it has run.
--
-- Producers never write the flag: it is not among their columns (009), and the
-- insert trigger sets it on every new row from the row's key, whatever was sent.
--
-- Workers built for 011 keep working against this schema (their claim checks
-- order itself and ignores the flag), so oldest_worker_schema stays; their claim
-- no longer has an index of its own, so upgrade them soon after migrating.

-- Fail rather than queue behind open transactions (see 009).
SET LOCAL lock_timeout = '10s';

-- A constant default: a catalog change, no rewrite of the table.
ALTER TABLE visibility_grant_jobs
    ADD COLUMN ordering_blocked boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN visibility_grant_jobs.ordering_blocked IS
    'Set by the database: true while an unfinished job of the same ordering_key goes first.';

-- Jobs in flight keep their order: pending keyed jobs with an older unfinished
-- job of their key wait, exactly as the old claim would have made them wait.
-- Only those rows are written (004's index finds each one's elders); the
-- table's lock from ADD COLUMN keeps workers and producers out meanwhile.
UPDATE visibility_grant_jobs AS j
SET ordering_blocked = true
WHERE j.ordering_key IS NOT NULL AND j.state = 'pending'
  AND EXISTS (SELECT 1 FROM visibility_grant_jobs AS older
              WHERE older.ordering_key = j.ordering_key AND older.id < j.id
                AND older.state IN ('pending', 'running'));

-- Chooses the heads of `keys` again, all in one statement, and wakes idle
-- workers when a job became claimable. First it takes the keys' advisory locks,
-- in one global order so two statements touching the same keys cannot deadlock;
-- the statement after that sees every transaction that held them. Per key it
-- reads the current head (the heads index below) and the oldest unfinished job
-- (004's index), and writes by id only the rows whose flag changes, so a long
-- backlog behind a key costs nothing here. Each lookup names its index's
-- predicate exactly, so the plan stays on that index whatever the statistics say.
-- SECURITY DEFINER: producers, who may not update jobs, insert keyed jobs too.
CREATE FUNCTION visibility_ordering_choose_heads(keys text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    woke boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(lock)
    FROM (SELECT DISTINCT hashtext(k) AS lock FROM unnest(keys) AS k WHERE k IS NOT NULL ORDER BY 1) AS sorted;

    WITH key AS (
        SELECT DISTINCT k FROM unnest(keys) AS k WHERE k IS NOT NULL
    ),
    head AS (
        SELECT j.id, j.ordering_key, j.state
        FROM key JOIN visibility_grant_jobs AS j
          ON j.ordering_key = key.k AND j.state IN ('pending', 'running') AND NOT j.ordering_blocked
    ),
    -- A key with a running head lets nothing else go; otherwise its oldest
    -- unfinished job, if pending, is the head.
    next AS (
        SELECT oldest.id
        FROM key CROSS JOIN LATERAL (
            SELECT j.id, j.state FROM visibility_grant_jobs AS j
            WHERE j.ordering_key = key.k AND j.state IN ('pending', 'running')
            ORDER BY j.id LIMIT 1
        ) AS oldest
        WHERE oldest.state = 'pending'
          AND NOT EXISTS (SELECT 1 FROM head WHERE head.ordering_key = key.k AND head.state = 'running')
    ),
    -- Any other unblocked pending job (a head overtaken by a job that committed
    -- late with a lower id, or a job back from `retry`) waits again.
    change AS (
        SELECT head.id, true AS blocked FROM head
        WHERE head.state = 'pending' AND head.id NOT IN (SELECT id FROM next)
        UNION ALL
        SELECT next.id, false FROM next WHERE next.id NOT IN (SELECT id FROM head)
    ),
    changed AS (
        UPDATE visibility_grant_jobs AS j
        SET ordering_blocked = change.blocked
        FROM change
        WHERE j.id = change.id AND j.state = 'pending'
        RETURNING change.blocked
    )
    SELECT coalesce(bool_or(NOT blocked), false) INTO woke FROM changed;
    IF woke THEN
        PERFORM pg_notify('visibility_grant_jobs', '');
    END IF;
END;
$$;

-- A new keyed row starts blocked; the statement's AFTER trigger below then makes
-- it the head if it goes first. Every other new row is unblocked, whatever the
-- insert said. The WHEN keeps ordinary unkeyed rows out of PL/pgSQL.
CREATE FUNCTION visibility_grant_jobs_block_new_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.ordering_blocked := NEW.ordering_key IS NOT NULL AND NEW.state = 'pending';
    RETURN NEW;
END;
$$;

CREATE TRIGGER visibility_grant_jobs_order_new_rows
    BEFORE INSERT ON visibility_grant_jobs
    FOR EACH ROW
    WHEN (NEW.ordering_key IS NOT NULL OR NEW.ordering_blocked)
    EXECUTE FUNCTION visibility_grant_jobs_block_new_row();

-- Once per statement, so a bulk insert chooses each key's head once.
CREATE FUNCTION visibility_grant_jobs_order_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM visibility_ordering_choose_heads(ARRAY(
        SELECT DISTINCT ordering_key FROM inserted_rows WHERE ordering_key IS NOT NULL));
    RETURN NULL;
END;
$$;

CREATE TRIGGER visibility_grant_jobs_order_after_insert
    AFTER INSERT ON visibility_grant_jobs
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION visibility_grant_jobs_order_inserted();

-- Keys whose jobs finished (or were taken back by `retry`) in the statement: their
-- next job goes now. A claim (pending to running) and a retriable outcome (running
-- back to pending, still the head) change no head and end in the first query.
CREATE FUNCTION visibility_grant_jobs_order_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM visibility_ordering_choose_heads(ARRAY(
        SELECT DISTINCT n.ordering_key
        FROM updated_rows AS n
        JOIN earlier_rows AS o ON o.id = n.id
        WHERE n.ordering_key IS NOT NULL
          AND ((o.state IN ('pending', 'running')) IS DISTINCT FROM (n.state IN ('pending', 'running'))
               OR o.ordering_key IS DISTINCT FROM n.ordering_key)
        UNION
        SELECT o.ordering_key
        FROM earlier_rows AS o
        JOIN updated_rows AS n ON n.id = o.id
        WHERE o.ordering_key IS NOT NULL AND o.ordering_key IS DISTINCT FROM n.ordering_key));
    RETURN NULL;
END;
$$;

-- Not for the flag updates the functions above make themselves (depth 1 and up):
-- they move no job in or out of the unfinished states.
CREATE TRIGGER visibility_grant_jobs_order_after_update
    AFTER UPDATE ON visibility_grant_jobs
    REFERENCING OLD TABLE AS earlier_rows NEW TABLE AS updated_rows
    FOR EACH STATEMENT
    WHEN (pg_trigger_depth() = 0)
    EXECUTE FUNCTION visibility_grant_jobs_order_updated();

-- Deleting a key's head unfinished (by hand: `prune` deletes finished jobs only)
-- lets the next one go. Per row, since it is rare, so prune pays nothing.
CREATE FUNCTION visibility_grant_jobs_order_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM visibility_ordering_choose_heads(ARRAY[OLD.ordering_key]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER visibility_grant_jobs_order_after_delete
    AFTER DELETE ON visibility_grant_jobs
    FOR EACH ROW
    WHEN (OLD.ordering_key IS NOT NULL AND OLD.state IN ('pending', 'running') AND NOT OLD.ordering_blocked)
    EXECUTE FUNCTION visibility_grant_jobs_order_deleted();

-- Pin search_path, as 009 does: the SECURITY DEFINER functions run with the
-- owner's rights and must not find anyone else's objects first.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['visibility_ordering_choose_heads(text[])',
                                'visibility_grant_jobs_block_new_row()', 'visibility_grant_jobs_order_inserted()',
                                'visibility_grant_jobs_order_updated()', 'visibility_grant_jobs_order_deleted()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', name, home);
    END LOOP;
END;
$$;

-- migrate: after commit
-- Each key's head (and a running job's key), for choosing heads: one row per key
-- with unfinished jobs, however long the key's backlog.
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_ordering_heads
    ON visibility_grant_jobs (ordering_key)
    WHERE ordering_key IS NOT NULL AND NOT ordering_blocked AND state IN ('pending', 'running');

-- migrate: after commit
-- The claim index from here on: what a worker may claim now, blocked jobs left out.
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_claimable_heads_by_app
    ON visibility_grant_jobs (app, priority DESC, run_at, id)
    WHERE state = 'pending' AND NOT ordering_blocked;

-- migrate: after commit
-- Replaced by the index above: one index less to keep up on every insert and claim.
DROP INDEX CONCURRENTLY IF EXISTS visibility_grant_jobs_claimable_by_app;
