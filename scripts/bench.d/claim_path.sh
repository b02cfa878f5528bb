#!/usr/bin/env bash
# Scenario Q of scripts/bench: what a claim reads.
#   Q1. One worker (plain HTTP, --concurrency 64) drains JOBS jobs twice: with no
#       other transaction, and with a REPEATABLE READ reader that read the jobs
#       table and stays open for the whole drain (vacuum can then remove nothing
#       the drain leaves behind). The time of each tenth, from the worker's
#       visibility_jobs_succeeded_total. Goals with the reader: the last tenth
#       <= 1.15x the first, the whole drain <= 1.1x the drain without it.
#       PgQueuer (scenario F's peer) drains PEER_JOBS the same two ways; goal:
#       this worker keeps a larger share of its unpinned rate than PgQueuer.
#   Q2. One worker drains 20,000 due jobs alone, then behind 1,000,000 jobs
#       due in 30 days at priority 10 (the claim index used to put them first).
#       And the claim statement alone (pgbench, the worker's own SQL, batch 64,
#       one client) over the same 20,000, for its p99. Goals: the drain <= 1.2x
#       the drain alone, claim p99 <= 2x.
#
#   claim_path.sh RUN_DIR BIN      (DATABASE_URL: a migrated database to use)
#   VW_BENCH_Q_JOBS (1000000), VW_BENCH_Q_PEER_JOBS (100000) size Q1;
#   VW_BENCH_Q_PARTS (12) runs Q1, Q2 or both.
#
# Prints "Q|what|result|compared with" lines.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" claim_path "$@"
jobs=${VW_BENCH_Q_JOBS:-1000000}
peer_jobs=${VW_BENCH_Q_PEER_JOBS:-100000}
parts=${VW_BENCH_Q_PARTS:-12}
pgbench="$(postgres_bindir)/pgbench"
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)

# reset N: an empty queue, then N due jobs, vacuumed and checkpointed.
reset() {
  sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers, visibility_rate_buckets, visibility_rate_slots" >/dev/null
  sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
       SELECT ARRAY['ding' || g], 'q-' || g FROM generate_series(1, $1) AS g" >/dev/null
  sql "VACUUM ANALYZE visibility_grant_jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
}

# open_reader URL TABLE: a REPEATABLE READ transaction that read TABLE, left open
# (application_name bench-reader) until close_reader.
open_reader() {
  PGAPPNAME=bench-reader psql -X -q "$1" -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM $2; SELECT pg_sleep(86400);" \
    >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench-reader' AND backend_xmin IS NOT NULL")" -gt 0 ] && return 0
    sleep 0.05
  done
  say "Q: the reader did not start"; exit 1
}
close_reader() {
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-reader'" >/dev/null
}

# drain_by_tenths: one worker until the queue is empty; prints the whole drain's
# seconds, then the seconds of each tenth, on one line.
drain_by_tenths() {
  local port
  port=$(free_port)
  DINGTALK_ACCESS_TOKEN=bench-token DINGTALK_BASE_URL="$fake_url" LOG_LEVEL=notice \
    "$bin" run --until-empty --concurrency 64 --batch-size 256 --poll-interval 100ms --metrics-port "$port" \
    2>>"$run_dir/workers.log" &
  local worker=$!
  python3 - "$port" "$jobs" "$worker" <<'PY'
import os, sys, time, urllib.request
port, total, worker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def succeeded():
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("visibility_jobs_succeeded_total"))
started = time.monotonic()
marks, next_mark = [], 1
while next_mark <= 10:
    done = succeeded()
    if done is None:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break  # exited: the last tenth ends with it
        time.sleep(0.05)
        continue
    while next_mark <= 10 and done >= total * next_mark / 10:
        marks.append(time.monotonic() - started)
        next_mark += 1
    time.sleep(0.1)
while len(marks) < 10:
    marks.append(time.monotonic() - started)
tenths = [marks[0]] + [b - a for a, b in zip(marks, marks[1:])]
print(f"{marks[-1]:.1f}", " ".join(f"{t:.1f}" for t in tenths))
PY
  wait "$worker" || echo "worker-exit $?" >>"$run_dir/workers.log"
}

# drained: after each drain_by_tenths, in the main shell (an exit inside the
# process substitution that reads its line would end only that subshell).
drained() {
  local left
  left=$(sql "SELECT coalesce(string_agg(state || ' ' || n, ', '), 'none') FROM
              (SELECT state, count(*) AS n FROM visibility_grant_jobs WHERE state <> 'succeeded' GROUP BY state) AS s")
  [ "$left" = none ] && return 0
  say "Q: the drain left jobs unfinished ($left); the worker's log ends:"
  tail -n 20 "$run_dir/workers.log" >&2
  exit 1
}

start_fake "$bin" "$run_dir" --accept-token bench-token --threads 1
pids+=("$fake_pid")

# ---------------------------------------------------------------- Q1
if [[ "$parts" == *1* ]]; then
reset "$jobs"
read -r clean_total clean_tenths < <(drain_by_tenths)
drained
reset "$jobs"
open_reader "$DATABASE_URL" visibility_grant_jobs
read -r pinned_total pinned_tenths < <(drain_by_tenths)
drained
dead=$(sql "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'visibility_grant_jobs'")
close_reader
read -r first_tenth _ <<<"$pinned_tenths"
last_tenth=${pinned_tenths##* }
ours_kept=$(ratio "$clean_total" "$pinned_total")

# peer [reader]: PgQueuer's jobs/s; its output goes to peer.log, shown if it fails.
peer() {
  scripts/bench.d/pgqueuer_peer.sh "$run_dir" "$DATABASE_URL" "$bin" "$peer_jobs" "$@" >>"$run_dir/peer.log" 2>&1 \
    || { say "Q1: the PgQueuer peer failed:"; tail -n 30 "$run_dir/peer.log" >&2; exit 1; }
  tail -n 1 "$run_dir/peer.log"
}
peer_clean=$(peer)
peer_pinned=$(peer reader)
peer_kept=$(ratio "$peer_pinned" "$peer_clean")

fmt() { echo "$1" | sed -E ':a;s/([0-9])([0-9]{3})($|,)/\1,\2\3/;ta'; }
echo "Q|Q1, 1 worker drains $(fmt "$jobs") jobs, no other transaction|$clean_total s|tenths (s): $clean_tenths"
echo "Q|Q1, the same with a REPEATABLE READ reader open throughout|$pinned_total s|tenths (s): $pinned_tenths; last tenth $(ratio "$last_tenth" "$first_tenth")x the first (goal <= 1.15), whole drain $(ratio "$pinned_total" "$clean_total")x (goal <= 1.1); $dead dead rows at the end"
echo "Q|Q1, PgQueuer drains $(fmt "$peer_jobs") jobs, without and with the reader|$peer_clean / $peer_pinned jobs/s|PgQueuer keeps $peer_kept of its unpinned rate, this worker $ours_kept (goal: more than PgQueuer)"
fi

# ---------------------------------------------------------------- Q2
[[ "$parts" == *2* ]] || exit 0
due=20000
claim_sql=$(sed -n '/^WITH claimed AS (/,/^)$/p' scripts/bench.d/claim_complete.pgbench | sed '1d;$d')
printf '\\set worker random(1, 1000000000)\n%s;\n' "$claim_sql" >"$run_dir/claim.pgbench"
# q2 LABEL: drains the 20,000 due jobs with one worker (prints seconds), then
# claims them again by pgbench after a reset of the same queue (prints p99 ms).
q2_queue() {
  sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers, visibility_rate_buckets, visibility_rate_slots" >/dev/null
  if [ "$1" = behind ]; then
    sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, run_at)
         SELECT ARRAY['ding' || g], 'later-' || g, 10, now() + interval '30 days' FROM generate_series(1, 1000000) AS g" >/dev/null
  fi
  sql "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
       SELECT ARRAY['ding' || g], 'due-' || g FROM generate_series(1, $due) AS g" >/dev/null
  sql "VACUUM ANALYZE visibility_grant_jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
}
q2() {
  local started finished
  q2_queue "$1"
  started=$(now)
  DINGTALK_ACCESS_TOKEN=bench-token DINGTALK_BASE_URL="$fake_url" LOG_LEVEL=warning \
    "$bin" run --until-empty --concurrency 64 --batch-size 256 --poll-interval 100ms 2>>"$run_dir/workers.log"
  finished=$(now)
  [ "$(sql "SELECT count(*) FROM visibility_grant_jobs WHERE opt_user_id LIKE 'due-%' AND state = 'succeeded'")" -eq "$due" ] \
    || { say "Q2: the drain left due jobs unfinished; the worker's log ends:"; tail -n 20 "$run_dir/workers.log" >&2; exit 1; }
  q2_queue "$1"
  rm -f "$run_dir"/pgbench_log.*
  (cd "$run_dir" && "$pgbench" -n -M prepared -c 1 -j 1 -t $((due / 64)) -D batch=64 -l -f claim.pgbench "$DATABASE_URL" >pgbench-q2.log 2>&1) \
    || { say "Q2: pgbench failed:"; cat "$run_dir/pgbench-q2.log" >&2; exit 1; }
  p99=$(cat "$run_dir"/pgbench_log.* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int(NR * 0.99)] / 1000 }')
  awk -v a="$started" -v b="$finished" -v p="$p99" 'BEGIN { printf "%.2f %s\n", b - a, p }'
}
read -r alone_s alone_p99 < <(q2 alone)
read -r behind_s behind_p99 < <(q2 behind)
echo "Q|Q2, 1 worker drains 20,000 due jobs alone|$alone_s s, claim p99 $alone_p99 ms|"
echo "Q|Q2, the same behind 1,000,000 jobs due in 30 days at priority 10|$behind_s s, claim p99 $behind_p99 ms|$(ratio "$behind_s" "$alone_s")x the drain alone (goal <= 1.2), claim p99 $(ratio "$behind_p99" "$alone_p99")x (goal <= 2)"
