#!/usr/bin/env bash
# Scenario N of scripts/bench: an open producer transaction beside a drain.
#   One worker drains 20,000 unkeyed jobs and the head of key `shared`, twice:
#   alone, and while a producer holds a transaction open for 30 s in which it
#   inserted one more job on `shared` (BEGIN; INSERT; pg_sleep(30); COMMIT).
#   The completion that finishes the key's head must not wait for that producer,
#   nor must the other outcomes written with it, nor any lease renewal.
#   Goal: the drain with the open transaction at >= 0.9 of the drain without it,
#   and no lease expired.
#
#   open_producer.sh RUN_DIR BIN      (DATABASE_URL: a migrated database to use)
#
# Prints one "N|what|result|compared with" line.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" open_producer "$@"
jobs=20000

# A queue of 20,000 unkeyed jobs plus the head of `shared`, admitted as a worker would.
reset_jobs() {
  sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers, visibility_rate_buckets, visibility_rate_slots" >/dev/null
  sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{ding0}', 'shared-1', 'shared')" >/dev/null
  sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
       SELECT ARRAY['ding' || g], 'free-' || g FROM generate_series(1, $jobs) AS g" >/dev/null
  sql "SELECT visibility_ordering_admit_arrivals(10)" >/dev/null
  sql "VACUUM ANALYZE visibility_grant_jobs" >/dev/null
}
# drain: one worker until every job is done; prints jobs/s.
drain() {
  local started finished
  started=$(now)
  DINGTALK_ACCESS_TOKEN=bench-token DINGTALK_BASE_URL="$fake_url" LOG_LEVEL=warning \
    "$bin" run --until-empty --concurrency 64 --batch-size 256 --lease 10s 2>>"$run_dir/workers.log"
  finished=$(now)
  awk -v n="$((jobs + 1))" -v a="$started" -v b="$finished" 'BEGIN { printf "%.0f", n / (b - a) }'
}

start_fake "$bin" "$run_dir" --accept-token bench-token
pids+=("$fake_pid")

reset_jobs
alone=$(drain)

reset_jobs
psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >"$run_dir/producer.log" 2>&1 <<'SQL' &
BEGIN;
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key) VALUES ('{ding0}', 'shared-2', 'shared');
SELECT pg_sleep(30);
COMMIT;
SQL
producer=$!
pids+=("$producer")
# The drain starts once the producer's insert is in (its transaction open).
for _ in $(seq 1 200); do
  [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")" -gt 0 ] && break
  sleep 0.05
done
beside=$(drain)
open_at_end=$(kill -0 "$producer" 2>/dev/null && echo yes || echo no)
wait "$producer" || { say "N: the producer failed"; cat "$run_dir/producer.log" >&2; exit 1; }
expired=$(sql "SELECT count(*) FROM visibility_grant_attempts WHERE outcome = 'lease_expired'")
[ "$(sql "SELECT count(*) FROM visibility_grant_jobs WHERE opt_user_id LIKE 'free-%' AND state = 'succeeded'")" -eq "$jobs" ] \
  || { say "N: not every job succeeded (see $run_dir/workers.log)"; exit 1; }

echo "N|1 worker drains 20,001 jobs while a producer's transaction on one of their keys stays open 30 s (still open at the drain's end: $open_at_end)|$beside jobs/s, $expired leases expired|$(ratio "$beside" "$alone") of the same drain without it ($alone jobs/s); goal >= 0.9, 0 leases expired"
