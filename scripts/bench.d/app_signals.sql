-- The app signals every worker reads for its gauges (GrantQueue.readAppSignals), made by
-- PgbenchScriptTests with AppSignals.Options' defaults; scenario P of scripts/bench times it.
SELECT a.name, a.global_qps, a.paused_until IS NOT NULL,
       (SELECT count(*) FROM (
            SELECT 1 FROM visibility_grant_jobs AS j
            WHERE j.app = a.name AND j.state = 'pending' AND NOT j.ordering_blocked AND NOT j.scheduled
              AND j.run_at <= now()
            LIMIT 10000::int + 1) AS due)::bigint,
       (WITH RECURSIVE levels (rank) AS (
            (SELECT -(j.priority::int) FROM visibility_grant_jobs AS j
             WHERE j.app = a.name AND j.state = 'pending' AND NOT j.ordering_blocked AND NOT j.scheduled
             ORDER BY -(j.priority::int) LIMIT 1)
            UNION ALL
            SELECT (SELECT -(j.priority::int) FROM visibility_grant_jobs AS j
                    WHERE j.app = a.name AND j.state = 'pending' AND NOT j.ordering_blocked AND NOT j.scheduled
                      AND -(j.priority::int) > levels.rank
                    ORDER BY -(j.priority::int) LIMIT 1)
            FROM levels WHERE levels.rank IS NOT NULL
        )
        SELECT extract(epoch FROM now() - min(
            (SELECT j.run_at FROM visibility_grant_jobs AS j
             WHERE j.app = a.name AND j.state = 'pending' AND NOT j.ordering_blocked AND NOT j.scheduled
               AND -(j.priority::int) = levels.rank
             ORDER BY j.run_at LIMIT 1)))::float8
        FROM levels
        WHERE levels.rank IS NOT NULL),
       (SELECT extract(epoch FROM now() - to_timestamp(max((w.last_outcome_by_app ->> a.name)::float8)))::float8
        FROM visibility_workers AS w
        WHERE w.heartbeat_at > now() - make_interval(secs => 60::float8))
FROM visibility_apps AS a
ORDER BY a.name;
