#!/usr/bin/env bash
# Scenario L of scripts/bench: the operator console on a 1,000,000-row job table.
#
#   console.sh RUN_DIR BIN        (DATABASE_URL: the bench's database; its queue is replaced)
#
# Seeds 1,000,000 jobs (mostly succeeded, some failed, pending and cancelled)
# and 1,050,000 attempts over the last 24 hours, starts `visibility-worker
# console`, and times whole HTTP answers (request to last byte, 30 each, the
# median and the slowest) for the overview and filtered job lists, including
# page 500 of a list. Compared with: the goal (300 ms), and the full
# `count(*) GROUP BY state` the overview does not do.
# Prints one "L|what|result|compared with" line per figure.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" console "$@"

sql "TRUNCATE visibility_grant_jobs, visibility_grant_attempts, visibility_workers RESTART IDENTITY" >/dev/null
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >/dev/null <<'SQL'
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key, ordering_key, state, attempts, max_attempts,
                                   last_http_status, last_error_code, last_error_message, run_at, created_at, updated_at, finished_at)
SELECT ARRAY['ding' || (g % 5000)], 'user-' || g, 'key-' || g, 'order-' || (g % 20000),
       s.state, CASE WHEN s.state = 'pending' THEN 0 ELSE 1 + (g % 20 = 0)::int END, 10,
       CASE WHEN s.state = 'failed' THEN 403 END,
       CASE WHEN s.state = 'failed' THEN (ARRAY['Forbidden.AccessDenied.AccessTokenPermissionDenied', 'invalid.param',
                                                 'employee.not.exist'])[1 + g % 3] END,
       CASE WHEN s.state = 'failed' THEN 'refused' END,
       t, t, t, CASE WHEN s.state IN ('succeeded', 'failed', 'cancelled') THEN t END
FROM generate_series(1, 1000000) AS g,
     LATERAL (SELECT now() - make_interval(secs => (1000000 - g) * 0.0864) AS t) AS at_time,
     LATERAL (SELECT CASE WHEN g % 100 < 94 THEN 'succeeded' WHEN g % 100 < 97 THEN 'failed'
                          WHEN g % 100 < 99 THEN 'pending' ELSE 'cancelled' END AS state) AS s;
INSERT INTO visibility_grant_attempts (job_id, attempt, worker_id, started_at, finished_at, http_status, error_code, outcome)
SELECT id, a, 'worker-' || (id % 8), finished_at - interval '40 ms', finished_at - make_interval(secs => (attempts - a) * 30),
       CASE WHEN a < attempts THEN 503 WHEN state = 'succeeded' THEN 200 ELSE 403 END,
       CASE WHEN a < attempts THEN 'system.busy' ELSE last_error_code END,
       CASE WHEN a < attempts THEN 'retry' ELSE state END
FROM visibility_grant_jobs, generate_series(1, attempts) AS a
WHERE state IN ('succeeded', 'failed');
VACUUM ANALYZE visibility_grant_jobs;
VACUUM ANALYZE visibility_grant_attempts;
SQL

start_console

jobs=$(sql "SELECT count(*) FROM visibility_grant_jobs")
deep=$(sql "SELECT id FROM visibility_grant_jobs WHERE state = 'succeeded' ORDER BY id DESC OFFSET $((499 * 50)) LIMIT 1")
full_count_ms=$(psql -qAt "$DATABASE_URL" <<'SQL' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | sed -n 3p
\timing on
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SELECT state, count(*) FROM visibility_grant_jobs GROUP BY state;
SQL
)

python3 - "$url" "$jobs" "$deep" "$full_count_ms" <<'PY'
import re, sys, time, urllib.request
url, jobs, deep, full_count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
pages = [
    ("overview page", "/"),
    ("overview refresh (live update)", "/overview"),
    ("jobs, no filter", "/jobs"),
    ("jobs, state=failed", "/jobs?state=failed"),
    ("jobs, state=failed&code=invalid.param", "/jobs?state=failed&code=invalid.param"),
    ("jobs, state=pending", "/jobs?state=pending"),
    ("jobs, ordering key", "/jobs?okey=order-777"),
    ("jobs, idempotency key", "/jobs?key=key-500000"),
    ("jobs, state=succeeded, page 1", "/jobs?state=succeeded"),
    ("jobs, state=succeeded, page 500 (keyset)", "/jobs?state=succeeded&before=" + deep),
    ("job page with attempts", "/jobs/500000"),
    ("bulk-retry confirmation count, code=invalid.param", "/jobs/confirm?action=retry&state=failed&code=invalid.param"),
]
for _ in range(3):  # warm the caches and the connections
    for _, path in pages:
        urllib.request.urlopen(url + path).read()
for name, path in pages:
    times = []
    for _ in range(30):
        started = time.perf_counter()
        with urllib.request.urlopen(url + path) as response:
            response.read()
            assert response.status == 200, (path, response.status)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    verdict = "within" if times[-1] < 300 else "OVER"
    print(f"L|{name}, {jobs:,} jobs|median {times[len(times) // 2]:.1f} ms, slowest {times[-1]:.1f} ms|{verdict} the 300 ms goal")
print(f"L|exact count(*) GROUP BY state over {jobs:,} jobs (not used)|median of 5 {float(full_count):.1f} ms|"
      "the overview counts states of up to 100,000 jobs exactly and shows an estimate for bigger ones")
overview = urllib.request.urlopen(url + "/overview").read().decode()
estimated = re.findall(r'id="count-(\w+)" data-count="(\d+)" data-estimated', overview)
shown = ", ".join(f"{state} ≈ {int(n):,}" for state, n in estimated) or "none"
print(f"L|states the overview shows as an estimate|{shown}|every other state counted exactly")
PY
