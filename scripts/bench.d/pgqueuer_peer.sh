#!/usr/bin/env bash
# Scenario F: installs PgQueuer into a git-ignored virtual environment, starts a
# fake API, runs scripts/bench.d/pgqueuer_peer.py against it on a database of
# its own in the same cluster, and prints the peer's jobs/s as its last line.
#
#   pgqueuer_peer.sh RUN_DIR DATABASE_URL WORKER_BINARY JOBS [reader]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
run_dir=$1 database_url=$2 bin=$3 jobs=$4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ensure_venv "$REPO_ROOT/.venv-bench" "$here/requirements.txt"
venv="$REPO_ROOT/.venv-bench"

psql -qAt "$database_url" -c "DROP DATABASE IF EXISTS pgqueuer_peer" -c "CREATE DATABASE pgqueuer_peer"
peer_url="${database_url%/*}/pgqueuer_peer"

start_fake "$bin" "$run_dir" --accept-token bench-token --threads 1
trap 'stop_processes $fake_pid' EXIT
"$venv/bin/python" "$here/pgqueuer_peer.py" "$peer_url" "$fake_url" "$jobs" "${@:5}"
