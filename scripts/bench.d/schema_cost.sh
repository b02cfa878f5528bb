#!/usr/bin/env bash
# What the schema costs a claim and a completion, against the schema of an
# earlier commit, side by side in one pgbench session.
#
#   scripts/bench.d/schema_cost.sh DATABASE_URL REV [JOBS] [BATCH] [ROUNDS]
#
# Two schemas of one database: cost_before (sql/ and claim_complete.pgbench of REV)
# and cost_now (those of the working tree), each migrated by this build's
# `migrate` (VW_BIN, else a debug build). Each gets JOBS pending jobs; then one
# pgbench client claims and completes BATCH jobs in one schema, then in the
# other, in turn, until both are drained, and pgbench's per-statement averages
# give the database's time a job in each (round trips included, the same for
# both). Alternating statement by statement puts both under the same load, which
# on a shared machine moves far more from run to run than the schemas differ.
# ROUNDS runs alternate which schema goes first. Drops both schemas at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

url=${1:?usage: schema_cost.sh DATABASE_URL REV [JOBS] [BATCH] [ROUNDS]}
rev=${2:?usage: schema_cost.sh DATABASE_URL REV [JOBS] [BATCH] [ROUNDS]}
jobs=${3:-30000}
batch=${4:-48}
rounds=${5:-4}
bin=${VW_BIN:-$(build_worker debug)}
pgbench="$(postgres_bindir)/pgbench"
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)

work=$(mktemp -d)
# Everything for one side runs with its schema first on the search path (libpq
# reads PGOPTIONS, so `migrate` creates its tables there too).
psql_in() { PGOPTIONS="-c search_path=$1" psql "$url" -q -v ON_ERROR_STOP=1 "${@:2}"; }
cleanup() {
  psql "$url" -q -c "DROP SCHEMA IF EXISTS cost_before CASCADE" -c "DROP SCHEMA IF EXISTS cost_now CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Where each side's migrations and pgbench script are.
declare -A source_of=([before]="$work/before" [now]="$REPO_ROOT")
mkdir -p "$work/before"
# The pgbench script was claim_complete.sql before 7277ace: take whichever name that revision has.
before_script=scripts/bench.d/claim_complete.pgbench
git -C "$REPO_ROOT" cat-file -e "$rev:$before_script" 2>/dev/null || before_script=scripts/bench.d/claim_complete.sql
git -C "$REPO_ROOT" archive "$rev" sql "$before_script" | tar -x -C "$work/before"
[ -f "$work/before/scripts/bench.d/claim_complete.pgbench" ] \
  || mv "$work/before/scripts/bench.d/claim_complete.sql" "$work/before/scripts/bench.d/claim_complete.pgbench"

for side in before now; do
  psql "$url" -q -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS cost_$side CASCADE" -c "CREATE SCHEMA cost_$side" 2>/dev/null
  PGOPTIONS="-c search_path=cost_$side" DATABASE_URL=$url "$bin" migrate --migrations-dir "${source_of[$side]}/sql" \
    >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
done

# One script: both schemas' statements, each after a SET search_path.
mix() {
  echo '\set worker random(1, 1000000000)'
  for side in "$@"; do
    echo "SET search_path = cost_$side;"
    grep -v -e '^\\set worker' -e '^--' "${source_of[$side]}/scripts/bench.d/claim_complete.pgbench"
  done
}

fill() {
  for side in before now; do
    psql_in "cost_$side" -c "TRUNCATE visibility_grant_jobs, visibility_grant_attempts RESTART IDENTITY CASCADE" \
      -c "INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) SELECT '{ding12345}', 'cost-' || g FROM generate_series(1, $jobs) AS g" \
      -c "VACUUM ANALYZE visibility_grant_jobs"
  done
  psql "$url" -q -c CHECKPOINT
}

printf '%-6s %-14s %14s %14s %8s\n' round first "before µs/job" "now µs/job" "now/before"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="before now"; else order="now before"; fi
  fill
  mix $order >"$work/mix.sql"
  "$pgbench" -n -M simple -c 1 -t $(((jobs + batch - 1) / batch)) -D batch="$batch" -r -f "$work/mix.sql" "$url" >"$work/pgbench.log" 2>&1 \
    || { tail -n 20 "$work/pgbench.log" >&2; exit 1; }
  left=0
  for side in before now; do
    left=$((left + $(psql_in "cost_$side" -At -c "SELECT count(*) FROM visibility_grant_jobs WHERE state <> 'succeeded'")))
  done
  python3 - "$work/pgbench.log" "$batch" "$round" "${order%% *}" "$left" <<'PY'
import re, sys
log, batch, round_, first, left = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
lines = open(log).read().splitlines()
start = next(i for i, line in enumerate(lines) if 'statement latencies' in line)
side, total = None, {}
for line in lines[start + 1:]:
    m = re.match(r'\s*([\d.]+)\s+\d+\s+(.*)', line)
    if not m:
        continue
    ms, statement = float(m.group(1)), m.group(2)
    s = re.match(r'SET search_path = cost_(\w+)', statement)
    if s:
        side = s.group(1)
    elif side and not statement.startswith('\\'):
        total[side] = total.get(side, 0.0) + ms
if left:
    sys.exit(f"round {round_}: {left} jobs were not drained")
before, now = (total[s] * 1000 / batch for s in ('before', 'now'))
print(f"{round_:<6} {first:<14} {before:14.1f} {now:14.1f} {now / before:8.3f}")
PY
done
