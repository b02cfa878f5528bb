-- pgbench: the worker's claim and complete statements, as raw SQL, batch :batch.
-- The raw-SQL ceiling of scenario A in BENCHMARKS.md.
\set worker random(1, 1000000000)
WITH claimed AS (
    WITH next AS (
        SELECT j.id FROM visibility_grant_jobs AS j
        WHERE j.app = 'default' AND j.state = 'pending' AND j.run_at <= now()
          AND EXISTS (SELECT 1 FROM visibility_apps AS a
                      WHERE a.name = 'default' AND (a.paused_until IS NULL OR a.probe_by = 'pgbench-' || :worker))
          AND (j.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM visibility_grant_jobs AS older
                WHERE older.ordering_key = j.ordering_key AND older.id < j.id AND older.state IN ('pending', 'running')))
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE visibility_grant_jobs AS j
    SET state = 'running', locked_by = 'pgbench-' || :worker, locked_until = now() + interval '30 seconds',
        attempts = j.attempts + 1, updated_at = now()
    FROM next WHERE j.id = next.id
    RETURNING j.id, j.attempts
)
SELECT coalesce(string_agg(id::text, ','), '') AS ids, coalesce(string_agg(attempts::text, ','), '') AS tries FROM claimed
\gset
WITH outcome AS (
    SELECT * FROM unnest('{:ids}'::bigint[], '{:tries}'::int[]) AS o(job_id, attempt)
),
updated AS (
    UPDATE visibility_grant_jobs AS j
    SET state = 'succeeded', locked_by = NULL, locked_until = NULL, last_http_status = 200,
        last_error_code = NULL, last_error_message = NULL, last_request_id = 'bench', updated_at = now(), finished_at = now()
    FROM outcome AS o
    WHERE j.id = o.job_id AND (j.state = 'running') IS TRUE AND j.locked_by = 'pgbench-' || :worker AND j.attempts = o.attempt
    RETURNING j.id
)
INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, http_status, request_id, outcome)
SELECT o.job_id, o.attempt, 'pgbench-' || :worker, now(), 200, 'bench', 'succeeded'
FROM outcome AS o JOIN updated AS u ON u.id = o.job_id;
