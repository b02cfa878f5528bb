-- A small queue for scripts/console-check: every state, error codes both
-- terminal and retrying, an hour of audit trail, two live workers (one paused),
-- an ordering key to cancel by, and a grant whose strings are markup.
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key, state, attempts, created_at, updated_at, finished_at)
SELECT ARRAY['ding' || (g % 40)], 'user-' || g, 'hr-sync-' || g, 'succeeded', 1 + (g % 7 = 0)::int,
       now() - make_interval(secs => 3600 - g * 2.7), now() - make_interval(secs => 3600 - g * 2.7),
       now() - make_interval(secs => 3600 - g * 2.7)
FROM generate_series(1, 1300) AS g;

INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, max_attempts, last_http_status, last_error_code,
                                   last_error_message, last_request_id, created_at, updated_at, finished_at)
SELECT ARRAY['ding-partner-' || g], 'user-f' || g, 'failed', 3, 3,
       CASE WHEN g % 3 = 0 THEN 400 ELSE 403 END,
       CASE WHEN g % 3 = 0 THEN 'invalid.param' ELSE 'Forbidden.AccessDenied.AccessTokenPermissionDenied' END,
       CASE WHEN g % 3 = 0 THEN 'the corp id is not a partner org' ELSE 'the app lacks the contact permission' END,
       'req-f' || g, now() - make_interval(mins => g + 2), now() - make_interval(mins => g), now() - make_interval(mins => g)
FROM generate_series(1, 24) AS g;

INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key, state, attempts, run_at, last_http_status, last_error_code)
SELECT ARRAY['ding' || g], 'user-p' || g, CASE WHEN g <= 12 THEN 'hr-batch-7' END, 'pending',
       CASE WHEN g % 4 = 0 THEN 2 ELSE 0 END,
       CASE WHEN g % 4 = 0 THEN now() + interval '40 seconds' ELSE now() - make_interval(secs => g) END,
       CASE WHEN g % 4 = 0 THEN 503 END, CASE WHEN g % 4 = 0 THEN 'system.busy' END
FROM generate_series(1, 60) AS g;

INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, finished_at)
SELECT ARRAY['ding' || g], 'user-c' || g, 'cancelled', now() - interval '2 hours' FROM generate_series(1, 5) AS g;

INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, locked_by, locked_until)
SELECT ARRAY['ding' || g], 'user-r' || g, 'running', 1, 'worker-a', now() + interval '30 seconds' FROM generate_series(1, 3) AS g;

-- Producer strings that are markup: they must show as text.
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key, state, attempts, max_attempts,
                                   last_http_status, last_error_code, last_error_message, finished_at)
VALUES (ARRAY['<b>ding-bold</b>'], '<script>document.title="pwned"</script>', '"><img src=x id=injected>', 'failed', 1, 1,
        400, 'invalid.param', '<img src=x id=injected-message>', now());

-- The audit trail: one attempt per attempt counted above, finished over the last hour.
INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, finished_at, http_status, error_code,
                                       error_message, request_id, outcome)
SELECT j.id, a, CASE WHEN j.id % 2 = 0 THEN 'worker-a' ELSE 'worker-b' END,
       coalesce(j.finished_at, now()) - make_interval(secs => (j.attempts - a) * 30 + 0.2),
       coalesce(j.finished_at, now()) - make_interval(secs => (j.attempts - a) * 30),
       CASE WHEN a < j.attempts THEN 503 WHEN j.state = 'succeeded' THEN 200 ELSE j.last_http_status END,
       CASE WHEN a < j.attempts THEN 'system.busy' WHEN j.state = 'succeeded' THEN NULL ELSE j.last_error_code END,
       CASE WHEN a < j.attempts THEN 'service busy, try later' WHEN j.state = 'succeeded' THEN NULL ELSE j.last_error_message END,
       'req-' || j.id || '-' || a,
       CASE WHEN a < j.attempts THEN 'retry' ELSE j.state END
FROM visibility_grant_jobs AS j, generate_series(1, j.attempts) AS a
WHERE j.state IN ('succeeded', 'failed');

INSERT INTO visibility_workers (id, host, pid, heartbeat_at, in_flight, pause_reason, paused_until, paused_since)
VALUES ('worker-a', 'grants-1.internal', 4121, now(), 3, NULL, NULL, NULL),
       ('worker-b', 'grants-2.internal', 3877, now() - interval '4 seconds', 0,
        'quota: Forbidden.AccessDenied.QpmLimitForAppkeyAndApi', now() + interval '40 seconds', now() - interval '20 seconds');
ANALYZE;
