# The start every scenario script of scripts/bench.d shares. A scenario runs as
#   NAME.sh RUN_DIR BIN      (DATABASE_URL: a migrated database to use)
# and begins with
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench-scenario.sh" NAME "$@"
# which leaves it in the repository with `run_dir` (RUN_DIR/NAME, made empty),
# `bin`, and `pids`, whose processes are stopped when the scenario exits.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
run_dir=$2/$1
bin=$3
rm -rf "$run_dir" && mkdir -p "$run_dir"
pids=()
trap 'stop_processes "${pids[@]}"' EXIT
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
