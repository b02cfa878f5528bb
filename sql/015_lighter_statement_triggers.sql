-- What every statement pays. Each claim and each completion is one UPDATE of a
-- batch of jobs, and two statement triggers run after it: the done notification
-- (010) and the choice of ordering heads (014). In a worker's steady state a
-- batch is a few dozen jobs, so what these triggers cost per statement is paid
-- by a few dozen jobs, not a few hundred. Two things made that cost grow with
-- the batch or stay high when there was nothing to do (BENCHMARKS.md, "What 015
-- changed"):
--
-- 1. Both paired the transition tables' rows by joining them on id. PostgreSQL
--    has no statistics for a transition table and plans it as one row, so the
--    join was a nested loop that scanned the other side once per row: a batch
--    of n rows cost n * n comparisons. They now compare the two sides as sets
--    (EXCEPT ALL hashes or sorts them once), which gives the same rows.
-- 2. The head choice ran for every statement, keyed or not, and PL/pgSQL
--    planned its statement again on every call (its plan depends on the keys,
--    so each call got a custom plan): about a millisecond per claim and per
--    completion. The trigger now calls it only when keys changed, and the
--    function keeps one plan: each of its lookups names its index's predicate,
--    so that plan is the right one whatever the keys.
--
-- Same results as before, the same names: only the function bodies change, so
-- workers built for earlier migrations keep working (oldest_worker_schema stays).

-- The ids of jobs this statement finished: finished now, and not before.
CREATE OR REPLACE FUNCTION visibility_grant_jobs_notify_done() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    -- A claim finishes nothing: most statements stop here.
    IF NOT EXISTS (SELECT FROM finished_rows WHERE state IN ('succeeded', 'failed', 'cancelled')) THEN
        RETURN NULL;
    END IF;
    FOR payload IN
        SELECT string_agg(id::text, ',' ORDER BY id)
        FROM (
            SELECT id, (row_number() OVER (ORDER BY id) - 1) / 390 AS chunk
            FROM (
                SELECT id FROM finished_rows WHERE state IN ('succeeded', 'failed', 'cancelled')
                EXCEPT ALL
                SELECT id FROM earlier_rows WHERE state IN ('succeeded', 'failed', 'cancelled')
            ) AS done
        ) AS numbered
        GROUP BY chunk
    LOOP
        PERFORM pg_notify('visibility_grant_jobs_done', payload);
    END LOOP;
    RETURN NULL;
END;
$$;

-- Keys whose jobs finished (or were taken back by `retry`) in the statement, or
-- whose job moved to another key: a row whose (key, id, unfinished) differs
-- between before and after names its key on the side it differs. A claim
-- (pending to running) and a retriable outcome (running back to pending, still
-- the head) change no such triple, and an unkeyed statement has none at all.
CREATE OR REPLACE FUNCTION visibility_grant_jobs_order_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
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
        PERFORM visibility_ordering_choose_heads(keys);
    END IF;
    RETURN NULL;
END;
$$;

-- As 014's, with one plan for every call (plan_cache_mode) and nothing to do
-- for no keys.
CREATE OR REPLACE FUNCTION visibility_ordering_choose_heads(keys text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    woke boolean;
BEGIN
    IF coalesce(cardinality(keys), 0) = 0 THEN
        RETURN;
    END IF;

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

-- CREATE OR REPLACE drops a function's settings: pin search_path again, as 014 does.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['visibility_ordering_choose_heads(text[])', 'visibility_grant_jobs_order_updated()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', name, home);
    END LOOP;
END;
$$;
