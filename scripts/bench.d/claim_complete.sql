-- pgbench: the worker's claim and complete statements (GrantQueue.claimBatch and
-- GrantQueue.completeBatch), batch :batch; made by Tests/GrantQueueTests/PgbenchScriptTests.swift.
-- The raw-SQL ceiling of scenario A in BENCHMARKS.md.
\set worker random(1, 1000000000)
WITH claimed AS (
    WITH worker_schema AS MATERIALIZED (
        SELECT set_config('visibility.worker_schema', '18', true)
    ),
    next AS (
        SELECT j.id
        FROM visibility_grant_jobs AS j
        WHERE j.app = 'default' AND j.state = 'pending' AND j.run_at <= now()
          AND EXISTS (SELECT 1 FROM visibility_apps AS a
                      WHERE a.name = 'default' AND (a.paused_until IS NULL OR a.probe_by = ('pgbench-' || :worker)))
          AND NOT j.ordering_blocked
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE visibility_grant_jobs AS j
    SET state = 'running',
        locked_by = ('pgbench-' || :worker),
        locked_until = now() + make_interval(secs => 30::float8),
        attempts = j.attempts + 1,
        updated_at = now()
    FROM next, worker_schema
    WHERE j.id = next.id
    RETURNING j.id, j.to_corp_ids, j.opt_user_id, j.fields, j.attempts, j.max_attempts, j.locked_until, j.priority, j.app
)
SELECT count(*) AS claimed, coalesce(string_agg(id::text, ','), '') AS ids,
       coalesce(string_agg(attempts::text, ','), '') AS tries
FROM claimed
\gset
WITH outcome AS (
    SELECT *, (http_status IS NOT NULL OR error_code IS NOT NULL) AS has_result
    FROM unnest('{:ids}'::bigint[], '{:tries}'::int[], array_fill('succeeded'::text, ARRAY[:claimed])::text[], array_fill(NULL::timestamptz, ARRAY[:claimed])::timestamptz[], array_fill(now(), ARRAY[:claimed])::timestamptz[],
                array_fill(true, ARRAY[:claimed])::bool[], array_fill(200, ARRAY[:claimed])::int[], array_fill(NULL::text, ARRAY[:claimed])::text[], array_fill(NULL::text, ARRAY[:claimed])::text[], array_fill('bench'::text, ARRAY[:claimed])::text[])
        AS o(job_id, attempt, outcome, run_at, started_at,
             reached_api, http_status, error_code, error_message, request_id)
),
updated AS (
    UPDATE visibility_grant_jobs AS j
    SET state = CASE
            WHEN o.outcome IN ('succeeded', 'failed') THEN o.outcome
            WHEN o.outcome = 'retry' AND j.attempts >= j.max_attempts THEN 'failed'
            ELSE 'pending'
        END,
        attempts = CASE WHEN o.outcome = 'released' THEN j.attempts - 1 ELSE j.attempts END,
        run_at = coalesce(o.run_at, j.run_at),
        locked_by = NULL,
        locked_until = NULL,
        last_http_status = CASE WHEN o.has_result THEN o.http_status ELSE j.last_http_status END,
        last_error_code = CASE WHEN o.has_result THEN o.error_code ELSE j.last_error_code END,
        last_error_message = CASE WHEN o.has_result THEN o.error_message ELSE j.last_error_message END,
        last_request_id = CASE WHEN o.has_result THEN o.request_id ELSE j.last_request_id END,
        updated_at = now(),
        finished_at = CASE
            WHEN o.outcome IN ('succeeded', 'failed')
              OR (o.outcome = 'retry' AND j.attempts >= j.max_attempts) THEN now()
        END
    FROM outcome AS o
    WHERE j.id = o.job_id
      -- Written so it does not match the running-leases partial index: its statistics
      -- say "almost empty", and a generic plan driven from it rescans the whole batch
      -- for every running row (quadratic). This way each outcome finds its row by id.
      AND (j.state = 'running') IS TRUE
      AND j.locked_by = ('pgbench-' || :worker)
      AND j.attempts = o.attempt
    RETURNING j.id, j.state, o.attempt, o.outcome, o.started_at, o.reached_api,
              o.http_status, o.error_code, o.error_message, o.request_id
),
audit AS (
    -- Fed by the UPDATE's own RETURNING: no second join over the batch.
    INSERT INTO visibility_grant_attempts
        (job_id, attempt, worker_id, started_at, http_status, error_code, error_message, request_id, outcome)
    SELECT id, attempt, ('pgbench-' || :worker), started_at, http_status, error_code, error_message, request_id,
           CASE WHEN outcome = 'retry' AND state = 'failed' THEN 'failed' ELSE outcome END
    FROM updated
    WHERE reached_api
)
SELECT id, state FROM updated;
