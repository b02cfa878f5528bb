#!/usr/bin/env bash
# Scenario P of scripts/bench: what operators and autoscalers read, at 10,000,000 jobs.
#
#   status_at_scale.sh RUN_DIR BIN    (DATABASE_URL: the bench's database; its queue is replaced)
#
# Seeds VW_BENCH_P_JOBS (10,000,000) jobs: a tenth pending and due, a tenth
# queued for 30 days later, the rest succeeded over the last 30 days (with an
# attempt each for the last two hours'), in two apps. Then times, 10 runs each
# after 2 to warm up, the median and the slowest:
#   - `status --json`, the whole process (start, connect, every read, exit);
#   - the app signals every worker reads for its gauges (the worker's own
#     statement, scripts/bench.d/app_signals.sql, kept equal to it by a test);
#   - the console's overview refresh (HTTP, request to last byte).
# Goal: <= 100 ms each. Compared with: the full count by state status used to run.
# Prints one "P|what|result|compared with" line per figure.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" status_at_scale "$@"
jobs=${VW_BENCH_P_JOBS:-10000000}
tenth=$((jobs / 10))

sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers RESTART IDENTITY" >/dev/null
sql "INSERT INTO visibility_apps (name, app_key, global_qps) VALUES ('acme', 'key-acme', 20) ON CONFLICT (name) DO NOTHING" >/dev/null
started=$(now)
psql -q -v ON_ERROR_STOP=1 -v jobs="$jobs" -v tenth="$tenth" "$DATABASE_URL" >/dev/null <<'SQL'
-- Succeeded over the last 30 days, oldest first (ids follow time, as in a real queue).
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, state, attempts, locked_by, run_at, created_at, updated_at, finished_at)
SELECT ARRAY['ding' || (g % 5000)], 'user-' || g, CASE WHEN g % 10 = 0 THEN 'acme' ELSE 'default' END, 'succeeded', 1, 'worker-' || (g % 8),
       t, t, t, t
FROM generate_series(1, :jobs - 2 * :tenth) AS g,
     LATERAL (SELECT now() - make_interval(secs => (:jobs - 2 * :tenth - g) * (30 * 86400.0 / (:jobs - 2 * :tenth))) AS t) AS at_time;
-- Queued for 30 days later: the database flags them scheduled (sql/019).
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, run_at)
SELECT ARRAY['ding' || (g % 5000)], 'later-' || g, CASE WHEN g % 10 = 0 THEN 'acme' ELSE 'default' END, now() + interval '30 days'
FROM generate_series(1, :tenth) AS g;
-- Due, waiting for as long as a backlog does.
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, app, run_at)
SELECT ARRAY['ding' || (g % 5000)], 'due-' || g, CASE WHEN g % 10 = 0 THEN 'acme' ELSE 'default' END,
       now() - make_interval(secs => (:tenth - g) * 0.001)
FROM generate_series(1, :tenth) AS g;
INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, finished_at, http_status, outcome)
SELECT id, 1, locked_by, finished_at - interval '40 ms', finished_at, 200, 'succeeded'
FROM visibility_grant_jobs WHERE state = 'succeeded' AND finished_at > now() - interval '2 hours';
VACUUM ANALYZE visibility_grant_jobs;
VACUUM ANALYZE visibility_grant_attempts;
SQL
seeded=$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
say "P: seeded $jobs jobs in ${seeded}s"

start_console

full_count_ms=$(psql -qAt "$DATABASE_URL" <<'SQL' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | sed -n 2p
\timing on
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SQL
)

python3 - "$bin" "$url" "$jobs" "$full_count_ms" "$DATABASE_URL" <<'PY'
import json, os, subprocess, sys, time, urllib.request
binary, url, jobs, full_count, database = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
signals_sql = open("scripts/bench.d/app_signals.sql").read()

def status():
    result = subprocess.run([binary, "status", "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)

def overview():
    with urllib.request.urlopen(url + "/overview") as response:
        response.read()
        assert response.status == 200

def timed(what, runs=10):
    for _ in range(2):
        what()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        what()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[-1]

def verdict(median, slowest):
    return "within" if slowest <= 100 else ("median within, slowest OVER" if median <= 100 else "OVER")

# The signals statement, timed inside the server (psql's own start left out).
script = "\\timing on\n" + (signals_sql.rstrip().rstrip(";") + ";\n") * 12
out = subprocess.run(["psql", "-qAt", database], input=script, capture_output=True, text=True, timeout=300)
assert out.returncode == 0, out.stderr
signal_times = sorted(float(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("Time: "))[:12]
signal_times = sorted(signal_times[2:]) if len(signal_times) > 2 else signal_times

snapshot = status()
default = next(app for app in snapshot["apps"] if app["name"] == "default")
median, slowest = timed(status)
print(f"P|status --json, {jobs:,} jobs (1/10 pending due, 1/10 queued for later, the rest succeeded)|"
      f"median {median:.1f} ms, slowest {slowest:.1f} ms|{verdict(median, slowest)} the 100 ms goal (the whole process); "
      f"the exact count by state status ran before: {full_count:.0f} ms")
sm, ss = signal_times[len(signal_times) // 2], signal_times[-1]
print(f"P|app signals (the depth gauge's read, every worker every 15 s), {jobs:,} jobs|median {sm:.1f} ms, slowest {ss:.1f} ms|"
      f"{verdict(sm, ss)} the 100 ms goal; default app: {default.get('dueJobs')}{'+' if default.get('dueJobsAtLeast') else ''} due, "
      f"oldest {default.get('oldestDueJobAgeSeconds', 0):.0f} s")
median, slowest = timed(overview)
print(f"P|console overview refresh, {jobs:,} jobs|median {median:.1f} ms, slowest {slowest:.1f} ms|{verdict(median, slowest)} the 100 ms goal")
estimated = ", ".join(f"{state} ≈ {snapshot['countsByState'][state]:,}" for state in sorted(snapshot.get("estimatedStates", [])))
print(f"P|what status estimates at {jobs:,} jobs|{estimated or 'nothing'}|"
      f"every other count exact; queued for later {snapshot['scheduledPending']:,}{'+' if snapshot.get('scheduledPendingAtLeast') else ''}")
PY
