#!/usr/bin/env bash
# Scenario F: installs PgQueuer into a git-ignored virtual environment, starts a
# fake API, runs scripts/bench.d/pgqueuer_peer.py against it on a database of
# its own in the same cluster, and prints the peer's jobs/s as its last line.
#
#   pgqueuer_peer.sh RUN_DIR DATABASE_URL WORKER_BINARY JOBS
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
run_dir=$1 database_url=$2 bin=$3 jobs=$4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../../.venv-bench"
# PgQueuer 1.6.0 with asyncpg: the current release when this benchmark was written.
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "pgqueuer[asyncpg]==1.6.0" "aiohttp>=3.9"

psql -qAt "$database_url" -c "DROP DATABASE IF EXISTS pgqueuer_peer" -c "CREATE DATABASE pgqueuer_peer"
peer_url="${database_url%/*}/pgqueuer_peer"

"$bin" fake-dingtalk --port 0 --accept-token bench-token --threads 1 >"$run_dir/fake-peer.out" 2>&1 &
fake_pid=$!
trap 'stop_processes $fake_pid' EXIT
for _ in $(seq 1 100); do grep -q "^listening on" "$run_dir/fake-peer.out" 2>/dev/null && break; sleep 0.1; done
fake_url=$(sed -n 's/^listening on //p' "$run_dir/fake-peer.out")
"$venv/bin/python" "$here/pgqueuer_peer.py" "$peer_url" "$fake_url" "$jobs"
