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

# start_console: `$bin console` on a free port (stopped with the scenario);
# sets `url` once it listens.
start_console() {
  "$bin" console --port 0 --log-level warning >"$run_dir/console.out" 2>"$run_dir/console.err" &
  pids+=($!)
  url=""
  for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on //p' "$run_dir/console.out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { say "the console did not start:"; cat "$run_dir/console.err" >&2; exit 1; }
}
