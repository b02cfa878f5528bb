-- What every claim and completion still paid after 015 (BENCHMARKS.md, "What 016
-- changed"). Each query a trigger function runs costs about 10-20 µs of executor
-- start and stop on top of its work, whatever the rows, and a worker's statement
-- carries a few dozen jobs: the queries, more than the rows, were the cost.
--
-- 1. The choice of ordering heads read both transition tables four times for
--    every statement, keyed or not. It now first asks whether any row has (or
--    had) a key, and stops there for unkeyed statements.
-- 2. The done notification numbered its rows with a window function and grouped
--    them into chunks. It now reads the finished ids into an array in id order
--    and cuts that into the same chunks, and only pairs old and new rows as sets
--    when some row was finished before the statement (a completion fences on
--    `running`, so its rows never were).
-- 3. The console's index by state held running jobs, so every claim added an
--    entry to it. Running jobs are few and have an index of their own (001's
--    running leases), which the console's count and list of them read instead.
--
-- Same results, same names for the functions: workers built for earlier
-- migrations keep working (oldest_worker_schema stays).

-- The ids of jobs this statement finished: finished now, and not before.
CREATE OR REPLACE FUNCTION visibility_grant_jobs_notify_done() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    done bigint[];
    first int := 1;
BEGIN
    -- A claim finishes nothing: most statements stop here.
    IF NOT EXISTS (SELECT FROM finished_rows WHERE state IN ('succeeded', 'failed', 'cancelled')) THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM earlier_rows WHERE state IN ('succeeded', 'failed', 'cancelled')) THEN
        done := ARRAY(SELECT id FROM finished_rows WHERE state IN ('succeeded', 'failed', 'cancelled') ORDER BY id);
    ELSE
        done := ARRAY(SELECT id FROM finished_rows WHERE state IN ('succeeded', 'failed', 'cancelled')
                      EXCEPT ALL
                      SELECT id FROM earlier_rows WHERE state IN ('succeeded', 'failed', 'cancelled')
                      ORDER BY 1);
    END IF;
    -- 390 ids of at most 20 bytes each stay under the 8,000-byte payload limit.
    WHILE first <= cardinality(done) LOOP
        PERFORM pg_notify('visibility_grant_jobs_done', array_to_string(done[first:first + 389], ','));
        first := first + 390;
    END LOOP;
    RETURN NULL;
END;
$$;

-- As 015's, after one look for a key on either side.
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
        PERFORM visibility_ordering_choose_heads(keys);
    END IF;
    RETURN NULL;
END;
$$;

-- CREATE OR REPLACE drops a function's settings: pin search_path again, as 014 does.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_grant_jobs'::regclass);
BEGIN
    EXECUTE format('ALTER FUNCTION visibility_grant_jobs_order_updated() SET search_path = pg_catalog, %I, pg_temp', home);
END;
$$;

-- migrate: after commit
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_by_state_not_running_or_succeeded
    ON visibility_grant_jobs (state, id)
    WHERE state NOT IN ('running', 'succeeded');

-- migrate: after commit
DROP INDEX CONCURRENTLY IF EXISTS visibility_grant_jobs_by_state_but_succeeded;
