# Shared by the scripts in scripts/: locating the repository, installing what is
# missing, and running PostgreSQL's server programs (which refuse to run as root).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '%s\n' "$*" >&2; }

# quietly CMD...: runs CMD with its output kept aside; if it fails, says which
# command, its exit status and the last 40 lines it printed, then fails too. For
# steps whose output is noise when they work (migrate, a setup command).
quietly() {
  local output status
  output=$(mktemp)
  if "$@" >"$output" 2>&1; then rm -f "$output"; return 0; else status=$?; fi
  say "$(basename "$1") ${*:2} exited $status; its output:"
  tail -n 40 "$output" >&2
  rm -f "$output"
  return "$status"
}

# Installs postgresql, libpq-dev and pkg-config with apt-get when they are missing.
ensure_packages() {
  local missing=()
  [ -n "$(postgres_bindir 2>/dev/null)" ] || missing+=(postgresql)
  [ -f /usr/include/postgresql/libpq-fe.h ] || pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install "${missing[@]}"
  # Debian's postgresql package starts a system cluster; ours are private, so leave it be.
}

apt_install() {
  say "installing $* ..."
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The folder holding initdb/pg_ctl/postgres (Debian keeps them off PATH).
postgres_bindir() {
  if command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

# Runs a PostgreSQL server program as the postgres user when we are root.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Stops the processes (SIGTERM, then SIGKILL after 10 s) and reaps them.
stop_processes() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# Makes sure `python3 -m venv` works (Debian splits it into python3-venv).
ensure_python_venv() {
  local probe
  probe=$(mktemp -d)
  if python3 -m venv "$probe/venv" >/dev/null 2>&1; then
    rm -rf "$probe"
    return 0
  fi
  rm -rf "$probe"
  apt_install python3 python3-venv
}

# GET http://127.0.0.1:PORT/PATH with bash alone (no curl needed); prints the body.
http_get() {
  local port=$1 path=$2 response
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
  response=$(cat <&3)
  exec 3<&-
  printf '%s\n' "${response#*$'\r\n\r\n'}"
}

# One statement against $DATABASE_URL, unaligned and quiet (for numbers and lists).
sql() { psql -qAt "$DATABASE_URL" -c "$1"; }

# Builds visibility-worker in CONFIGURATION (debug or release), showing errors and
# progress, and prints the binary's path; fails when the build does.
build_worker() {
  local configuration=$1
  swift build -c "$configuration" 2>&1 | { grep -E "error|Compiling visibility|Build complete" || true; } >&2
  [ "${PIPESTATUS[0]}" -eq 0 ] || { say "the build failed"; return 1; }
  echo "$(swift build -c "$configuration" --show-bin-path)/visibility-worker"
}

# Starts `BIN fake-dingtalk --port 0 ARGS...` with its output under DIR and waits
# for its first line; sets fake_url and fake_pid, or fails showing its errors.
start_fake() {
  local bin=$1 dir=$2 out
  shift 2
  out="$dir/fake-$RANDOM"
  "$bin" fake-dingtalk --port 0 "$@" >"$out.out" 2>"$out.err" &
  fake_pid=$!
  for _ in $(seq 1 100); do grep -q "^listening on" "$out.out" 2>/dev/null && break; sleep 0.1; done
  fake_url=$(sed -n 's/^listening on //p' "$out.out")
  [ -n "$fake_url" ] || { say "the fake API did not start:"; cat "$out.err" >&2; return 1; }
}

# A Python virtual environment at DIR with REQUIREMENTS installed; rebuilt only
# when that file changes.
ensure_venv() {
  local venv=$1 requirements=$2 stamp wanted
  stamp="$venv/.requirements.sha256"
  wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
  [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && return 0
  ensure_python_venv
  say "== installing the packages of ${requirements#"$REPO_ROOT"/} into ${venv#"$REPO_ROOT"/}"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  echo "$wanted" >"$stamp"
}

# `systemd-analyze verify UNIT`, failing on any complaint: it exits 0 on unknown
# keys and bad values, which it only prints. Works without systemd running.
verify_unit() {
  local output
  output=$(systemd-analyze verify "$1" 2>&1) && [ -z "$output" ] && return 0
  say "systemd-analyze verify $1:"
  say "$output"
  return 1
}

# Makes a throwaway private CA and a server certificate it signed for 127.0.0.1 and
# localhost, in DIR: ca.pem, server.pem, server.key (for `fake-dingtalk --tls-cert`).
make_test_certificates() {
  local dir=$1
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  mkdir -p "$dir"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  (
    cd "$dir" &&
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 \
        -subj "/CN=visibility-worker test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext
  ) >/dev/null 2>&1 || { say "openssl could not make the test certificates in $dir"; return 1; }
}
