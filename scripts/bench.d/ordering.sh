#!/usr/bin/env bash
# Scenario J of scripts/bench: ordering keys at scale.
#   (a) one key x 2,000 jobs, fake API answering in 5 ms, one worker: jobs/s.
#       Each job of the key waits for the one before, so this is the round trip
#       call, completion, claim; the poll interval is 1 s, so only the wake-up
#       from the completion explains a rate above 1 job/s.
#   (b) 5,000 keys x 20 jobs against 100,000 unkeyed jobs, same fake, same worker
#       options, one after the other in this run: the ratio of the two rates.
#   (c) claim latency (p50, p99) with 50,000 jobs blocked on one key (its head
#       running) while 5,000 free jobs are claimed, 10 at a time, by pgbench with
#       the worker's own claim statement; next to it the claim before migration 014
#       (a NOT EXISTS probe per keyed candidate, with its own index) on the same rows.
#   (d) the same free claims with no blocked backlog.
#
#   ordering.sh RUN_DIR BIN      (DATABASE_URL: a migrated database to use)
#
# Prints one "J|what|result|compared with" line per figure.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" ordering "$@"
pgbench="$(postgres_bindir)/pgbench"
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)

reset_jobs() {
  sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers, visibility_rate_buckets, visibility_rate_slots" >/dev/null
}
# insert_jobs KEYS PER_KEY: KEYS x PER_KEY keyed jobs, ids interleaved across keys (KEYS 0: PER_KEY unkeyed jobs).
insert_jobs() {
  local keys=$1 per_key=$2
  if [ "$keys" -eq 0 ]; then
    sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
         SELECT ARRAY['ding' || g], 'free-' || g FROM generate_series(1, $per_key) AS g" >/dev/null
  else
    sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
         SELECT ARRAY['ding' || k], 'key' || k || '-' || s, 'key' || k
         FROM generate_series(1, $per_key) AS s, generate_series(1, $keys) AS k ORDER BY s, k" >/dev/null
  fi
  sql "VACUUM ANALYZE visibility_grant_jobs" >/dev/null
}
# As workers do: every committed keyed job gets its place in its key's line (sql/017).
admit_all() {
  while [ "$(sql "SELECT visibility_ordering_admit_arrivals(2000)")" != 0 ]; do :; done
}
# drain JOBS: one worker until the queue is empty; prints jobs/s.
drain() {
  local jobs=$1 started finished
  started=$(now)
  DINGTALK_ACCESS_TOKEN=bench-token DINGTALK_BASE_URL="$fake_url" LOG_LEVEL=warning \
    "$bin" run --until-empty --concurrency 64 --batch-size 256 --poll-interval 1s 2>>"$run_dir/workers.log"
  finished=$(now)
  [ "$(sql "SELECT count(*) FROM visibility_grant_jobs WHERE state = 'succeeded'")" -eq "$jobs" ] \
    || say "J: not every job succeeded (see $run_dir/workers.log)"
  awk -v n="$jobs" -v a="$started" -v b="$finished" 'BEGIN { printf "%.0f", n / (b - a) }'
}

# ------------------------------------------------------------------ (a)
start_fake "$bin" "$run_dir" --accept-token bench-token --threads 1 --latency 5ms
pids+=("$fake_pid")
reset_jobs
insert_jobs 1 2000
a_rate=$(drain 2000)
stop_processes "$fake_pid"

# ------------------------------------------------------------------ (b)
start_fake "$bin" "$run_dir" --accept-token bench-token --threads 1
pids+=("$fake_pid")
reset_jobs
insert_jobs 0 100000
unkeyed_rate=$(drain 100000)
reset_jobs
insert_jobs 5000 20
keyed_rate=$(drain 100000)
stop_processes "$fake_pid"

# ------------------------------------------------------------- (c) + (d)
# The worker's claim, cut from the pgbench script made of the worker's statements.
claim=$(sed -n '/^WITH claimed AS (/,/^)$/p' scripts/bench.d/claim_complete.pgbench | sed '1d;$d')
printf '\\set worker random(1, 1000000000)\n%s;\n' "$claim" >"$run_dir/claim.sql"
# The claim before migration 014, for comparison: every keyed candidate probed for an older unfinished job.
old_claim=$(sed 's/AND NOT j.ordering_blocked/AND (j.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM visibility_grant_jobs AS older WHERE older.ordering_key = j.ordering_key AND older.id < j.id AND older.state IN ('"'pending', 'running'"')))/' <<<"$claim")
grep -q "NOT EXISTS (SELECT 1 FROM visibility_grant_jobs AS older" <<<"$old_claim" || { say "J: could not make the old claim"; exit 1; }
printf '\\set worker random(1, 1000000000)\n%s;\n' "$old_claim" >"$run_dir/old-claim.sql"

# claim_latency LABEL SCRIPT: 500 claims of 10 by one client; prints "p50 p99" in ms.
claim_latency() {
  local label=$1 script=$2
  (cd "$run_dir" && "$pgbench" -n -M prepared -c 1 -t 500 -D batch=10 -l --log-prefix="$label" -f "$script" "$DATABASE_URL" \
    >"pgbench-$label.txt" 2>&1) || { say "J: pgbench failed"; cat "$run_dir/pgbench-$label.txt" >&2; exit 1; }
  [ "$(sql "SELECT count(*) FROM visibility_grant_jobs WHERE ordering_key IS NULL AND state = 'running'")" -eq 5000 ] \
    || say "J: $label did not claim all 5,000 free jobs"
  cat "$run_dir/$label".* | awk '{ print $3 / 1000 }' | sort -n \
    | awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)] }'
}
# blocked_backlog N: N jobs on one key, the first of them running (a long lease), then 5,000 free jobs.
blocked_backlog() {
  reset_jobs
  if [ "$1" -gt 0 ]; then
    sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, ordering_key)
         SELECT ARRAY['dingbig'], 'big-' || g, 'big' FROM generate_series(1, $1) AS g" >/dev/null
    admit_all
    # A claim by hand says it knows the schema's migrations, as a worker's claim does (sql/018).
    sql "SELECT set_config('visibility.worker_schema', oldest_worker_schema::text, false) FROM visibility_schema_compatibility;
         UPDATE visibility_grant_jobs SET state = 'running', locked_by = 'bench-holder', attempts = 1,
           locked_until = now() + interval '1 hour' WHERE opt_user_id = 'big-1'" >/dev/null
  fi
  insert_jobs 0 5000
}
blocked_backlog 50000
read -r c_p50 c_p99 < <(claim_latency blocked claim.sql)
blocked_backlog 0
read -r d_p50 d_p99 < <(claim_latency free claim.sql)
# The old claim on the same rows, with the index it had (dropped by 014).
sql "CREATE INDEX bench_old_claim_index ON visibility_grant_jobs (app, priority DESC, run_at, id) WHERE state = 'pending'" >/dev/null
blocked_backlog 50000
read -r old_p50 old_p99 < <(claim_latency old-blocked old-claim.sql)
sql "DROP INDEX bench_old_claim_index" >/dev/null
reset_jobs

a_goal=$(awk -v r="$a_rate" 'BEGIN { print (r >= 50 ? "met" : "not met") }')
b_ratio=$(ratio "$keyed_rate" "$unkeyed_rate")
b_goal=$(awk -v r="$b_ratio" 'BEGIN { print (r >= 0.8 ? "met" : "not met") }')
c_goal=$(awk -v c="$c_p99" -v d="$d_p99" -v c5="$c_p50" -v d5="$d_p50" 'BEGIN { print (c <= 2 * d && c5 <= 2 * d5 ? "met" : "not met") }')
echo "J|(a) one key x 2,000 jobs, fake at 5 ms, 1 worker, poll 1 s|$a_rate jobs/s|goal >= 50 jobs/s: $a_goal"
echo "J|(b) 5,000 keys x 20 jobs, 1 worker, fake at 0 ms|$keyed_rate jobs/s|$b_ratio of unkeyed ($unkeyed_rate jobs/s, 100,000 jobs, same run); goal >= 0.80: $b_goal"
echo "J|(c) claim of 10 with 50,000 jobs blocked on one key, 5,000 free (p50 / p99)|$c_p50 / $c_p99 ms|claim before 014 on the same rows: $old_p50 / $old_p99 ms"
echo "J|(d) the same 5,000 free claims, no blocked backlog (p50 / p99)|$d_p50 / $d_p99 ms|goal (c) within 2x of (d): $c_goal"
