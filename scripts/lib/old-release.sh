# Builds of earlier commits, for the scripts that run an old fleet beside this
# build (scripts/chaos --stage upgrade, scenario O of scripts/bench). Sourced
# after scripts/lib/common.sh.
#
# Each commit gets a detached git worktree under .build-old/<commit> (git-ignored)
# and is built there once: a second run finds the binary and the stamp the build
# left, and builds nothing. The binary finds the sql/ of its own tree (migrate
# looks beside the executable and in its parents), so `OLD migrate` applies the
# migrations that commit shipped with; pass --migrations-dir "$(old_release_sql C)"
# to say so explicitly.

OLD_RELEASES_DIR="$REPO_ROOT/.build-old"

# The last commit of the first-parent history before sql/010_apps.sql arrived: the
# build before apps, which requires migration 9. (010 came in with a merge; the
# parent of the side-branch commit that wrote the file predates 008 and 009.)
pre_apps_commit() {
  local added
  added=$(git -C "$REPO_ROOT" log --first-parent --diff-filter=A --format=%H -- sql/010_apps.sql | tail -n 1)
  [ -n "$added" ] || { say "no commit on the first-parent history adds sql/010_apps.sql"; return 1; }
  git -C "$REPO_ROOT" rev-parse "$added^1"
}

old_release_dir() { echo "$OLD_RELEASES_DIR/$(git -C "$REPO_ROOT" rev-parse --verify "$1^{commit}")"; }
old_release_sql() { echo "$(old_release_dir "$1")/sql"; }

# The highest migration number in that commit's sql/ (what its build requires).
old_release_migration() {
  local last
  last=$(ls "$(old_release_sql "$1")" | sed -n 's/^\([0-9][0-9]*\)_.*\.sql$/\1/p' | sort -n | tail -n 1)
  echo $((10#$last))
}

# old_release_bin REV [CONFIGURATION]: prints the path of REV's visibility-worker,
# building it first (`nice -n 10 swift build -c CONFIGURATION`, release by
# default) unless a build of that commit is cached. Build progress goes to
# .build-old/<commit>.CONFIGURATION.log, and the stamp keeps how long it took
# (old_release_build_seconds). Two scripts asking at once take turns (flock).
old_release_bin() {
  local rev=$1 configuration=${2:-release} commit dir bin stamp log started
  commit=$(git -C "$REPO_ROOT" rev-parse --verify "$rev^{commit}") || { say "unknown commit $rev"; return 1; }
  dir="$OLD_RELEASES_DIR/$commit"
  bin="$dir/.build/$configuration/visibility-worker"
  stamp="$dir/.build/$configuration.built"
  log="$OLD_RELEASES_DIR/$commit.$configuration.log"
  mkdir -p "$OLD_RELEASES_DIR"
  (
    flock 9
    [ -x "$bin" ] && [ -f "$stamp" ] && exit 0
    ensure_old_worktree "$commit" "$dir" || exit 1
    say "== building $(git -C "$REPO_ROOT" log -1 --format='%h (%cs)' "$commit") ($configuration) in ${dir#"$REPO_ROOT"/}; log in ${log#"$REPO_ROOT"/}"
    started=$(date +%s)
    # The commit goes into the binary (--version, status) as scripts/package does.
    if ! (cd "$dir" && VISIBILITY_WORKER_COMMIT=${commit:0:12} nice -n 10 swift build -c "$configuration") >"$log" 2>&1; then
      say "the build of $commit failed; the end of ${log#"$REPO_ROOT"/}:"
      tail -n 20 "$log" >&2
      exit 1
    fi
    echo $(( $(date +%s) - started )) >"$stamp"
  ) 9>"$OLD_RELEASES_DIR/$commit.lock" || return 1
  [ -x "$bin" ] || { say "no binary at $bin after the build"; return 1; }
  echo "$bin"
}

# How long the cached build of REV took (seconds), from its stamp; empty if none.
old_release_build_seconds() { cat "$(old_release_dir "$1")/.build/${2:-release}.built" 2>/dev/null || true; }

# A detached worktree of COMMIT at DIR, made once. Package.resolved is git-ignored,
# so the worktree gets the main checkout's pins (the versions this machine's
# package mirror has and this build compiles with) rather than resolving afresh.
ensure_old_worktree() {
  local commit=$1 dir=$2
  if [ ! -e "$dir/.git" ]; then
    git -C "$REPO_ROOT" worktree prune
    rm -rf "$dir"
    git -C "$REPO_ROOT" worktree add --detach "$dir" "$commit" >/dev/null \
      || { say "git worktree add $dir $commit failed"; return 1; }
  fi
  if [ ! -f "$dir/Package.resolved" ] && [ -f "$REPO_ROOT/Package.resolved" ]; then
    cp "$REPO_ROOT/Package.resolved" "$dir/Package.resolved"
  fi
}
