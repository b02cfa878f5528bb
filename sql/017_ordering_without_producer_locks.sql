-- Ordering keys without a producer lock. Until now (014) every INSERT of keyed
-- jobs chose its keys' heads in the producer's own transaction, under one
-- advisory lock per key held until the producer committed. That failed three
-- ways: a statement of 20,000 keys ran out of lock space (53200), producers
-- inserting keys in different orders deadlocked (40P01), and a producer that
-- held its transaction open held every completion of its keys, and with it the
-- whole batch of outcomes that shared the statement.
--
-- Now producers only insert. A new keyed row arrives blocked and without a place
-- in its key's line (`ordering_seq` NULL). Workers admit arrivals: one worker at
-- a time reads the arrivals that have committed, numbers them in id order from
-- a sequence, and chooses the heads of their keys. Producers take no lock at all
-- beyond their own new rows, which nobody else can see until they commit.
--
-- The order, per key: jobs run one at a time, in `ordering_seq` order, which is
-- the order in which a worker saw them committed, and id order among jobs seen
-- together. So a job whose transaction committed before another job's
-- transaction began always goes first (its id is lower, and no admission can
-- see the later job without it), and the jobs of one transaction go in id order.
-- Jobs of two producer transactions open at the same time go in whichever order
-- their commits were seen; an id drawn early by a transaction that commits late
-- does not jump the line.
--
-- Who waits for whom. Choosing heads takes one lock, the ordering lock, never a
-- lock per key:
--   * a completion (running jobs finishing) takes it shared: completions never
--     wait for each other, since a key has at most one running job;
--   * admitting arrivals, `cancel`, `retry`, deleting an unfinished job and any
--     other change take it exclusive, so exactly one of them chooses a key's head
--     at a time, and none of them interleaves with a completion.
-- Only workers and operators' commands take it, never a producer's INSERT or COPY.
-- A command that changes unfinished keyed jobs by hand should take the lock
-- first (SELECT visibility_ordering_lock()), as `cancel` and `retry` do: a row
-- locked before the ordering lock can deadlock with a completion.
--
-- Workers built before this migration never admit arrivals, so their keyed jobs
-- would wait for ever: oldest_worker_schema becomes 17.

-- A nullable column without a default: a catalog change, no rewrite.
ALTER TABLE visibility_grant_jobs ADD COLUMN ordering_seq bigint NULL;

COMMENT ON COLUMN visibility_grant_jobs.ordering_seq IS
    'Set by a worker when it admits a keyed job: the job''s place in its key''s line (NULL: not admitted yet, no key, or queued before migration 017).';

-- One number per admitted keyed job; the admitting worker holds the only lock
-- that hands them out, so a batch takes a block of consecutive numbers.
CREATE SEQUENCE visibility_ordering_seq AS bigint;

-- The lock that orders choices of heads (see above). Its number spells "VISORDER".
CREATE FUNCTION visibility_ordering_lock() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_catalog.pg_advisory_xact_lock(6217592360709408082)
$$;

CREATE FUNCTION visibility_ordering_lock_shared() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_catalog.pg_advisory_xact_lock_shared(6217592360709408082)
$$;

-- Chooses the heads of `keys` again, in one statement, and wakes idle workers
-- when a job became claimable. A key's head is its running job if it has one,
-- else its pending job first in line. Arrivals not yet admitted are in no line.
-- `shared`: the caller only finishes running jobs (a completion).
CREATE FUNCTION visibility_ordering_choose_heads(keys text[], shared boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    woke boolean;
BEGIN
    IF coalesce(cardinality(keys), 0) = 0 THEN
        RETURN;
    END IF;
    IF shared THEN
        PERFORM visibility_ordering_lock_shared();
    ELSE
        PERFORM visibility_ordering_lock();
    END IF;

    WITH key AS (
        SELECT DISTINCT k FROM unnest(keys) AS k WHERE k IS NOT NULL
    ),
    -- Each lookup is one index probe per key, naming its index's predicate exactly
    -- (014's heads index, the line index below), so the one generic plan stays on
    -- them. OFFSET 0 keeps the heads' lookup a probe per key: flattened into a join,
    -- the generic plan (which guesses 10 keys) scanned every head for every key,
    -- 10 million comparisons for an admission of 2,000 keys beside 5,000 heads.
    head AS (
        SELECT h.id, key.k AS ordering_key, h.state
        FROM key CROSS JOIN LATERAL (
            SELECT j.id, j.state FROM visibility_grant_jobs AS j
            WHERE j.ordering_key = key.k AND j.ordering_key IS NOT NULL AND NOT j.ordering_blocked
              AND j.state IN ('pending', 'running')
            OFFSET 0
        ) AS h
    ),
    next AS (
        SELECT first.id
        FROM key CROSS JOIN LATERAL (
            SELECT j.id, j.state FROM visibility_grant_jobs AS j
            WHERE j.ordering_key = key.k AND j.state IN ('pending', 'running')
              AND (j.ordering_seq IS NOT NULL OR j.state = 'running')
            ORDER BY j.ordering_seq NULLS FIRST, j.id LIMIT 1
        ) AS first
        WHERE first.state = 'pending'
          AND NOT EXISTS (SELECT 1 FROM head WHERE head.ordering_key = key.k AND head.state = 'running')
    ),
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

-- Admits up to `most` arrivals, oldest id first, and returns how many; -1 when
-- another worker is admitting right now (its pass covers what has committed).
-- Arrivals are blocked, so no claim holds one, and a producer's uncommitted rows
-- are invisible here: nothing this waits for is a producer's.
CREATE FUNCTION visibility_ordering_admit_arrivals(most int) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    ids bigint[];
    keys text[];
    first bigint;
BEGIN
    -- "VISADMIT": one admitting worker at a time; the others need not wait for it.
    IF NOT pg_try_advisory_xact_lock(6217592300345575764) THEN
        RETURN -1;
    END IF;
    PERFORM visibility_ordering_lock();

    SELECT array_agg(a.id ORDER BY a.id), array_agg(DISTINCT a.ordering_key) INTO ids, keys
    FROM (
        SELECT j.id, j.ordering_key FROM visibility_grant_jobs AS j
        WHERE j.ordering_key IS NOT NULL AND j.ordering_seq IS NULL AND j.state = 'pending'
        ORDER BY j.id LIMIT most
    ) AS a;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;

    first := nextval('visibility_ordering_seq');
    PERFORM setval('visibility_ordering_seq', first + cardinality(ids) - 1);
    UPDATE visibility_grant_jobs AS j
    SET ordering_seq = first + n.position - 1
    FROM unnest(ids) WITH ORDINALITY AS n (id, position)
    WHERE j.id = n.id AND j.state = 'pending' AND j.ordering_seq IS NULL;

    PERFORM visibility_ordering_choose_heads(keys, false);
    RETURN cardinality(ids);
END;
$$;

-- A new keyed row arrives blocked and unadmitted, whatever the insert said.
CREATE OR REPLACE FUNCTION visibility_grant_jobs_block_new_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.ordering_blocked := NEW.ordering_key IS NOT NULL AND NEW.state = 'pending';
    NEW.ordering_seq := NULL;
    RETURN NEW;
END;
$$;

DROP TRIGGER visibility_grant_jobs_order_new_rows ON visibility_grant_jobs;
CREATE TRIGGER visibility_grant_jobs_order_new_rows
    BEFORE INSERT ON visibility_grant_jobs
    FOR EACH ROW
    WHEN (NEW.ordering_key IS NOT NULL OR NEW.ordering_blocked OR NEW.ordering_seq IS NOT NULL)
    EXECUTE FUNCTION visibility_grant_jobs_block_new_row();

-- Producers' statements choose no heads any more.
DROP TRIGGER visibility_grant_jobs_order_after_insert ON visibility_grant_jobs;
DROP FUNCTION visibility_grant_jobs_order_inserted();

-- As 016's, choosing with the shared lock when the statement only finished
-- running jobs (a completion), with the exclusive one otherwise.
CREATE OR REPLACE FUNCTION visibility_grant_jobs_order_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
    IF NOT EXISTS (SELECT FROM updated_rows WHERE ordering_key IS NOT NULL)
       AND NOT EXISTS (SELECT FROM earlier_rows WHERE ordering_key IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT changed.ordering_key) INTO keys
    FROM (
        (SELECT ordering_key, id, state IN ('pending', 'running') FROM updated_rows WHERE ordering_key IS NOT NULL
         EXCEPT ALL
         SELECT ordering_key, id, state IN ('pending', 'running') FROM earlier_rows WHERE ordering_key IS NOT NULL)
        UNION ALL
        (SELECT ordering_key, id, state IN ('pending', 'running') FROM earlier_rows WHERE ordering_key IS NOT NULL
         EXCEPT ALL
         SELECT ordering_key, id, state IN ('pending', 'running') FROM updated_rows WHERE ordering_key IS NOT NULL)
    ) AS changed (ordering_key, id, unfinished);
    IF keys IS NOT NULL THEN
        PERFORM visibility_ordering_choose_heads(keys,
            NOT EXISTS (SELECT FROM earlier_rows WHERE ordering_key IS NOT NULL AND state <> 'running'));
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION visibility_grant_jobs_order_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM visibility_ordering_choose_heads(ARRAY[OLD.ordering_key], false);
    RETURN NULL;
END;
$$;

DROP FUNCTION visibility_ordering_choose_heads(text[]);

-- Workers admit arrivals; older builds do not.
UPDATE visibility_schema_compatibility SET oldest_worker_schema = 17;

-- Pin search_path, as 014 does, on every function this migration (re)defines.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['visibility_ordering_lock()', 'visibility_ordering_lock_shared()',
                                'visibility_ordering_choose_heads(text[], boolean)',
                                'visibility_ordering_admit_arrivals(integer)',
                                'visibility_grant_jobs_block_new_row()', 'visibility_grant_jobs_order_updated()',
                                'visibility_grant_jobs_order_deleted()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', name, home);
    END LOOP;
END;
$$;

-- migrate: after commit
-- What workers admit next: arrivals only, oldest first; empty once they are admitted.
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_ordering_arrivals
    ON visibility_grant_jobs (id)
    WHERE ordering_key IS NOT NULL AND ordering_seq IS NULL AND state = 'pending';

-- migrate: after commit
-- Each key's line of admitted unfinished jobs, first in line first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_ordering_line
    ON visibility_grant_jobs (ordering_key, ordering_seq NULLS FIRST, id)
    WHERE ordering_key IS NOT NULL AND state IN ('pending', 'running') AND (ordering_seq IS NOT NULL OR state = 'running');
