-- pgbench -R 50: a producer inserting single grants at a steady rate (scenario B).
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
VALUES ('{ding12345}', 'latency-' || :client_id || '-' || (random() * 1000000000)::bigint);
