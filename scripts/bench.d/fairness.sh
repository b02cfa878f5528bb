#!/usr/bin/env bash
# Scenario I of scripts/bench: fairness between DingTalk apps. App `backlog`
# has 100,000 jobs waiting; app `trickle` gets 5 inserts a second for 20 s.
# Measures the trickle's insert-to-finish latency (p50, p99), once with the
# backlog app held to its 20 QPS cap, once with the backlog uncapped (as fast
# as the fake answers), and, for comparison, the trickle alone.
#
#   fairness.sh RUN_DIR BIN      (DATABASE_URL: a migrated database to use)
#
# Prints one "I|what|result|compared with" line per figure.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" fairness "$@"
mkdir -p "$run_dir/secrets"

start_fake "$bin" "$run_dir" --latency 5ms --app backlog-key:backlog-secret --app trickle-key:trickle-secret
pids+=("$fake_pid")
printf 'backlog-secret\n' >"$run_dir/secrets/backlog-key"
printf 'trickle-secret\n' >"$run_dir/secrets/trickle-key"
sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers, visibility_rate_buckets, visibility_rate_slots" >/dev/null
sql "DELETE FROM visibility_apps WHERE name IN ('backlog', 'trickle')" >/dev/null
"$bin" apps add backlog --app-key backlog-key >/dev/null
"$bin" apps add trickle --app-key trickle-key >/dev/null

# measure LABEL BACKLOG_QPS BACKLOG_JOBS: p50 and p99 (seconds) of 100 trickle jobs inserted 5 a second
# (BACKLOG_QPS: the backlog app's global_qps, NULL for none).
measure() {
  local label=$1 backlog_qps=$2 backlog_jobs=$3 worker
  sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_rate_buckets, visibility_rate_slots" >/dev/null
  sql "UPDATE visibility_apps SET global_qps = $backlog_qps WHERE name = 'backlog'" >/dev/null
  [ "$backlog_jobs" -gt 0 ] && sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app)
    SELECT ARRAY['ding' || g], 'backlog-' || g, 'backlog' FROM generate_series(1, $backlog_jobs) AS g" >/dev/null
  sql "VACUUM ANALYZE visibility_grant_jobs" >/dev/null
  DINGTALK_BASE_URL="$fake_url" DINGTALK_APP_SECRETS_DIR="$run_dir/secrets" LOG_LEVEL=warning \
    "$bin" run --concurrency 64 --batch-size 256 2>>"$run_dir/worker-$label.log" &
  worker=$!
  sleep 2  # the worker warms up (tokens, first claims): pacing, not synchronisation
  for i in $(seq 1 100); do
    sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app) VALUES ('{ding1}', 'trickle-$i', 'trickle')" >/dev/null
    sleep 0.2  # the trickle's own pace: 5 inserts a second
  done
  for _ in $(seq 1 100); do
    [ "$(sql "SELECT count(*) FROM visibility_grant_jobs WHERE app = 'trickle' AND finished_at IS NOT NULL")" = 100 ] && break
    sleep 0.1
  done
  stop_processes "$worker"
  sql "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
              percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
              count(finished_at)
       FROM visibility_grant_jobs WHERE app = 'trickle'" | awk -F'|' '{ printf "%.3f %.3f %d\n", $1, $2, $3 }'
}

read -r alone_p50 alone_p99 alone_n < <(measure alone 20 0)
read -r capped_p50 capped_p99 capped_n < <(measure capped 20 100000)
read -r open_p50 open_p99 open_n < <(measure uncapped NULL 100000)
echo "I|trickle app behind a 100,000-job backlog app at its 20 QPS cap (p50 / p99, $capped_n of 100)|$capped_p50 / $capped_p99 s|goal: p99 < 1 s; alone $alone_p50 / $alone_p99 s"
echo "I|trickle app behind a 100,000-job backlog app with no cap (p50 / p99, $open_n of 100)|$open_p50 / $open_p99 s|goal: p99 < 1 s"
