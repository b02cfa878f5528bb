#!/usr/bin/env bash
# Scenario O of scripts/bench: this build's `migrate` on a big queue while a fleet of
# an earlier build drains it. Two starting points, each on a cluster of its own:
#   from 16: the release before the claim fence (255ccf2) migrates with its own sql/;
#   from 9:  the build before apps (scripts/lib/old-release.sh, pre_apps_commit) does.
# Both builds are made once in git worktrees under .build-old/ (release) and reused,
# as scripts/chaos --stage upgrade does. Each queue gets JOBS jobs, PENDING of them
# pending and the rest succeeded long ago, unkeyed, inserted in SQL by the table's
# owner in statements of a million rows, then VACUUM ANALYZE (the attempts table
# stays empty: no migration from 9 on reads its rows). Two workers of the old build
# drain it against the fake API (no latency, no limit, as scenario A); their rate
# is read from the fake's applied count over 30 s; then this build's `migrate`
# runs while they go on and while the write probe of scripts/chaos.d/upgrade-lib.sh
# (pgbench inserting and claiming a job every 10 ms) runs. Reports per starting
# point: migrate's time, the probe's longest wait while it ran, and the old fleet's
# jobs/s during migrate against its rate before. Goal (from 16): longest wait <= 1 s.
# From 9 the migrations up to 016 run as they were written: figures only.
#
# Once 018 commits, the old workers' claims are refused (the claim fence): it is
# the last migration, so that moment is the end of migrate, and what they did up to
# it is their rate during migrate.
#
#   upgrade.sh RUN_DIR BIN
#   VW_BENCH_O_JOBS (default 10000000) and VW_BENCH_O_PENDING (default a fifth of
#   it) scale the queue down to try the scenario quickly.
#
# Prints "O|what|result|compared with" lines.
set -euo pipefail
stage=bench-upgrade
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../chaos.d/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/old-release.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../chaos.d/upgrade-lib.sh"
cd "$REPO_ROOT"
run_dir=$1/upgrade
bin=$(readlink -f "$2")
rm -rf "$run_dir" && mkdir -p "$run_dir"
trap stage_cleanup EXIT
jobs=${VW_BENCH_O_JOBS:-10000000}
pending=${VW_BENCH_O_PENDING:-$((jobs / 5))}
chunk=1000000
workers=2
measure_seconds=30
[ "$pending" -le "$jobs" ] || { say "VW_BENCH_O_PENDING ($pending) is above VW_BENCH_O_JOBS ($jobs)"; exit 2; }

commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", (b > a ? n / (b - a) : 0) }'; }
applied() { http_get "${fake_url##*:}" /__fake/stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["applied"])'; }

# fill: the finished jobs first (the lower ids, as on a queue that has run for a
# while), then the pending ones, a million rows a statement.
fill() {
  local finished=$((jobs - pending)) lo hi
  for ((lo = 1; lo <= finished; lo += chunk)); do
    hi=$((lo + chunk - 1 < finished ? lo + chunk - 1 : finished))
    psql -X -q -v ON_ERROR_STOP=1 -v lo="$lo" -v hi="$hi" -v finished="$finished" "$DATABASE_URL" <<'SQL'
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, state, attempts, last_http_status, last_request_id,
                                   run_at, created_at, updated_at, finished_at)
SELECT ARRAY['ding' || g], 'done-' || g, 'succeeded', 1, 200, 'bench-request-' || g, t, t, t, t
FROM generate_series(:lo, :hi) AS g,
     LATERAL (SELECT now() - (:finished - g + 1) * interval '100 ms') AS old(t);
SQL
  done
  for ((lo = finished + 1; lo <= jobs; lo += chunk)); do
    hi=$((lo + chunk - 1 < jobs ? lo + chunk - 1 : jobs))
    psql -X -q -v ON_ERROR_STOP=1 -v lo="$lo" -v hi="$hi" "$DATABASE_URL" <<'SQL'
INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id)
SELECT ARRAY['ding' || g], 'bench-' || g FROM generate_series(:lo, :hi) AS g;
SQL
  done
  sql "VACUUM ANALYZE visibility_grant_jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
}

# upgrade_from LABEL REV: one starting point, start to finish; prints its rows.
upgrade_from() {
  local label=$1 rev=$2 old part_dir filled_at started before_rate at_start at_end during_rate left
  old=$(old_release_bin "$rev" release)
  part_dir="$run_dir/from$label"
  mkdir -p "$part_dir"
  start_cluster "from$label"
  "$old" migrate --migrations-dir "$(old_release_sql "$rev")" >"$part_dir/old-migrate.log" 2>&1 \
    || { cat "$part_dir/old-migrate.log" >&2; exit 1; }
  started=$(now)
  fill
  filled_at=$(now)
  say "   O from $label: $(commas "$jobs") jobs ($(commas "$pending") pending) inserted and vacuumed in $(seconds_between "$started" "$filled_at") s"

  start_fake "$bin" "$part_dir" --accept-token bench-token --threads 1
  background_pids+=("$fake_pid")
  local n
  for n in $(seq 1 "$workers"); do
    DINGTALK_ACCESS_TOKEN=bench-token DINGTALK_BASE_URL="$fake_url" LOG_LEVEL=warning "$old" run --worker-id "old-$n" \
      --concurrency 64 --batch-size 256 --poll-interval 100ms 2>>"$part_dir/old-workers.log" &
    worker_pid[old-$n]=$!
  done
  sleep 5  # past the workers' start-up before the rate is read (pacing, not synchronisation)
  started=$(now); at_start=$(applied)
  sleep "$measure_seconds"
  before_rate=$(rate $(($(applied) - at_start)) "$started" "$(now)")

  start_probe "$part_dir/probe"
  sleep 1  # the probe's rate settles before migrate starts
  at_start=$(applied)
  timed_migrate "$part_dir/migrate.log" "$bin"
  at_end=$(applied)
  left=$(sql "SELECT count(*) FROM visibility_grant_jobs WHERE state = 'pending'")
  sleep 1
  stop_probe
  [ "$migrate_status" -eq 0 ] || { say "O: this build's migrate failed:"; cat "$part_dir/migrate.log" >&2; exit 1; }
  [ "$probe_status" -eq 0 ] || { say "O: the probe failed:"; cat "$part_dir/probe/pgbench.out" >&2; exit 1; }
  during_rate=$(rate $((at_end - at_start)) "$migrate_started" "$migrate_finished")
  # A queue that ran dry would make both rates meaningless.
  [ "$left" -gt 0 ] || { say "O from $label: no job was left pending when migrate ended: raise VW_BENCH_O_PENDING"; exit 1; }
  local figures longest in_window total
  figures=$(probe_figures "$part_dir/probe" "$migrate_started" "$migrate_finished")
  read -r longest in_window total <<<"$figures"
  [ "$in_window" -gt 0 ] || { say "O: the probe logged no transaction while migrate ran (see $part_dir/probe)"; exit 1; }
  for n in $(seq 1 "$workers"); do kill -TERM "${worker_pid[old-$n]}" 2>/dev/null || true; done
  for n in $(seq 1 "$workers"); do wait_worker "old-$n" 30; done
  stop_processes "$fake_pid"
  scripts/dev-postgres destroy "$REPO_ROOT/.pgdata/chaos-$stage-from$label" >/dev/null 2>&1 || true

  local what goal
  what="from migration $label ($(git log -1 --format=%h "$rev")'s $workers workers draining; $(commas "$jobs") jobs, $(commas "$pending") pending)"
  if [ "$label" = 16 ]; then
    goal="goal <= 1 s: $([ "$longest" -le 1000 ] && echo met || echo "not met")"
  else
    goal="no goal (migrations up to 016 run as written)"
  fi
  echo "O|$what: this build's migrate to $("$bin" --version | sed -n '1s/.*requires migration \([0-9]*\).*/\1/p')|$(seconds_between "$migrate_started" "$migrate_finished") s|$(tail -n 1 "$part_dir/migrate.log")"
  echo "O|$what: longest wait of the write probe (insert + claim every 10 ms) during migrate|$longest ms|$goal; $in_window probe transactions during migrate"
  echo "O|$what: jobs/s during migrate|$during_rate jobs/s|$(awk -v a="$during_rate" -v b="$before_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') of the $measure_seconds s before it ($before_rate jobs/s); $(commas "$left") jobs still pending at its end"
}

upgrade_from 16 255ccf2
upgrade_from 9 "$(pre_apps_commit)"
