-- What every job pays. A job's row is updated at least twice (claimed, then
-- finished), and PostgreSQL checks every CHECK constraint and adds an entry to
-- every index whose predicate holds on each of those updates, whichever columns
-- they change. Two later additions (009, 011) had made that hot path cost
-- noticeably more database CPU per job (BENCHMARKS.md, scenario A):
--
-- 1. The corp id length bound (009) called an SQL function whose body reads
--    from unnest(): the executor cannot inline it, and each call costs about as
--    much as running a small query (~8 µs). A PL/pgSQL loop gives the same
--    answer for about a quarter of that. Same name and result, so the
--    constraint that uses it stays as it is (NULL for an empty array, NULL
--    entries skipped, length in characters).
CREATE OR REPLACE FUNCTION visibility_longest_entry(text[]) RETURNS int
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    entry text;
    longest int;
BEGIN
    FOREACH entry IN ARRAY $1 LOOP
        IF longest IS NULL OR pg_catalog.length(entry) > longest THEN
            longest := pg_catalog.length(entry);
        END IF;
    END LOOP;
    RETURN longest;
END;
$$;

-- 2. The console's index on (state, id) (011) covered every state, so the
--    completion of every job added an entry to it, for the one state the
--    console never needs it for: succeeded jobs are most of the table, where a
--    newest-first walk of the primary key finds them at once, and the overview
--    shows their count as an estimate. Every other state keeps its entries (the
--    overview counts them exactly, and pages through them newest first); the
--    completion that ends most jobs no longer writes to it.

-- migrate: after commit
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_by_state_but_succeeded
    ON visibility_grant_jobs (state, id)
    WHERE state <> 'succeeded';

-- migrate: after commit
DROP INDEX CONCURRENTLY IF EXISTS visibility_grant_jobs_by_state;
