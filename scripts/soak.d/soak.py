#!/usr/bin/env python3
"""The engine of scripts/soak (read its header for what runs and what each
invariant means). scripts/soak starts PostgreSQL and the fake API, migrates and
adds the apps; this runs workers, producers, bulk loads and attacks for the
duration, drains, checks and prints one line per invariant. Standard library
only; PostgreSQL is reached through `psql` processes (a producer's open
transaction is one psql fed statements on stdin)."""

import argparse
import bisect
import gzip
import http.server
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

APPS = ("default", "second", "third")  # scripts/soak adds second and third
KEYS_PER_APP = 50
WORKERS = 3
WORKER_FLAGS = ["--lease", "3s", "--concurrency", "16", "--drain-timeout", "5s", "--request-timeout", "2s",
                "--backoff-base", "100ms", "--backoff-max", "2s", "--poll-interval", "200ms"]
DISTINCT_KEYS_LOAD = 20_000   # one enqueue whose every line has its own ordering key (see scripts/soak)
FEW_KEYS_LOAD = 3_000         # the other enqueues: on a handful of the producers' keys, a third unkeyed
PROGRESS_EVERY = 15.0
DRAIN_MOST = 180.0            # longest wait for the queue to empty after the run
DRAIN_STALL = 60.0            # ... or for any change in it
ENQUEUE_TIMEOUT = 300.0
PSQL_ENV = {"PGCONNECT_TIMEOUT": "10"}  # the soak's own psql gives up on a frozen server after 10 s

# What a client sees when PostgreSQL restarts under it (or is frozen past connect_timeout).
CONNECTION_LOST = re.compile(
    r"server closed the connection|connection to server|terminating connection|could not connect|"
    r"connection refused|no connection to the server|could not (receive|send) data|timeout expired|"
    r"the database system is (shutting down|starting up|not yet accepting)|57P0[1-3]|08001|08006", re.I)
LOG_PATTERNS = {
    "deadlocks": re.compile(r"deadlock detected|40P01"),
    "lock-space errors": re.compile(r"out of shared memory|53200"),
}


def parse_duration(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 3m, 1h)")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]


# ---------------------------------------------------------------- the run's shared state

class Soak:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.duration = args.duration
        self.run_dir = args.run_dir
        self.t0 = time.monotonic()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.children = set()          # every process started here, for the final cleanup
        self.txns = []                 # producer transactions and bulk loads, in start order
        self.unexpected = []           # errors other than a lost connection, with their stderr
        self.attacks = {"kill": 0, "restart": 0, "pause": 0}
        self.reader_seconds = 0.0
        # What `status --json` reported of the reader while it was open (database.oldestTransactionAgeSeconds).
        self.horizon_readings = 0
        self.horizon_longest = 0.0
        self.stalled_readings = []
        self.env = dict(os.environ, DATABASE_URL=args.database_url)
        self.traces = TraceSink()

    def now(self):
        return time.monotonic() - self.t0

    def say(self, text):
        with self.lock:
            print(f"[{self.now():6.1f}s] {text}", flush=True)

    def spawn(self, argv, env=None, **kwargs):
        process = subprocess.Popen(argv, env=dict(self.env, **(env or {})), **kwargs)
        with self.lock:
            self.children.add(process)
        return process

    def forget(self, process):
        with self.lock:
            self.children.discard(process)

    def record_unexpected(self, who, text, log_path=None):
        """Counts an error that is not a lost connection and prints its first lines."""
        with self.lock:
            self.unexpected.append((who, text))
        lines = text.strip().splitlines()
        more = f"\n    ... (all of it in {os.path.basename(log_path)})" if log_path and len(lines) > 3 else ""
        self.say(f"{who}: " + "\n    ".join(lines[:3]) + more)

    def add_txn(self, txn):
        with self.lock:
            self.txns.append(txn)

    def psql(self, sql, timeout=30):
        """One statement's rows (tab-separated fields); raises with psql's stderr."""
        result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                                 self.args.database_url, "-c", sql],
                                env=dict(self.env, **PSQL_ENV), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"psql exited {result.returncode}: {result.stderr.strip()}")
        return [line.split("\t") for line in result.stdout.splitlines()]

    def count(self, sql, timeout=5):
        try:
            return int(self.psql(sql, timeout)[0][0])
        except (RuntimeError, subprocess.TimeoutExpired):
            return None


@dataclass
class Job:
    tag: str                 # idempotency_key, and opt_user_id unless poisoned ("nonexistent-" + tag)
    key: str | None


@dataclass
class Txn:
    name: str
    begin: float                     # when BEGIN was sent (a bulk load: when its first enqueue started)
    jobs: list = field(default_factory=list)
    end: float | None = None         # when COMMIT returned (or was lost); a bulk load: when it exited
    outcome: str = "open"            # committed, rolled back, aborted (never committed), unknown


# ---------------------------------------------------------------- psql sessions

class Session:
    """A psql process fed statements on stdin; each statement is followed by an
    \\echo mark, so its completion is seen. Any error ends psql (ON_ERROR_STOP),
    and with it the transaction; its stderr goes to LOG. No statement waits over
    2 minutes (an idle transaction may stay open longer)."""

    def __init__(self, soak, log_path, name):
        self.soak = soak
        self.log = open(log_path, "a")
        self.log.write(f"--- {name} connects at {soak.now():.1f}s\n")
        self.log.flush()
        self.offset = self.log.tell()
        self.log_path = log_path
        self.marks = 0
        self.process = soak.spawn(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", soak.args.database_url],
                                  env=dict(PSQL_ENV, PGOPTIONS="-c statement_timeout=120s"),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)

    def run(self, sql):
        """True once SQL has completed; False if psql ended first (see error())."""
        self.marks += 1
        mark = f"@@soak-{self.marks}"
        try:
            self.process.stdin.write(f"{sql}\n\\echo {mark}\n")
            self.process.stdin.flush()
            for line in self.process.stdout:
                if line.rstrip("\n") == mark:
                    return True
        except (BrokenPipeError, OSError):
            pass
        self.close()
        return False

    def error(self):
        with open(self.log_path) as log:
            log.seek(self.offset)
            return log.read().strip() or f"psql exited {self.process.returncode} without a message"

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.soak.forget(self.process)
        self.log.close()


def traceparent(tag):
    """The W3C trace context a producer gives the job tagged `tag` (the checks
    derive it again, with PostgreSQL's md5, to see that it was kept)."""
    digest = hashlib.md5(tag.encode()).hexdigest()
    return f"00-{digest}-{digest[:16]}-01"


def poisoned(rng, share):
    """The opt_user_id prefix that makes the fake refuse a job for good (employee.not.exist), for SHARE of jobs."""
    return "nonexistent-" if rng.random() < share else ""


def sql_text(value):
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------- producers

class Producer(threading.Thread):
    """BEGIN; 2-3 INSERTs of keyed and unkeyed jobs, keys in random order; hold the
    transaction open 0-5 s (sometimes up to 20 s); COMMIT, or now and then ROLLBACK."""

    def __init__(self, soak, number):
        super().__init__(name=f"producer-{number}", daemon=True)
        self.soak = soak
        self.number = number
        self.rng = random.Random(f"{soak.seed}-producer-{number}")
        self.log_path = os.path.join(soak.run_dir, f"producer-{number}.log")
        self.session = None
        self.count = 0
        self.lost_connections = 0

    def run(self):
        while not self.soak.stopping.is_set():
            self.count += 1
            txn = Txn(name=f"p{self.number}-t{self.count}", begin=0.0)
            statements = [self.insert(txn) for _ in range(self.rng.randint(2, 3))]
            hold = self.rng.uniform(0, 5) if self.rng.random() < 0.85 else self.rng.uniform(5, 20)
            rollback = self.rng.random() < 0.1
            self.transact(txn, statements, hold, rollback)

    def insert(self, txn):
        rows = []
        for _ in range(self.rng.randint(1, 4)):
            # One job in ten is queued for later (staged when it falls due, sql/019), some
            # at a higher priority; its tag carries the delay, which the checks read back.
            delay = self.rng.randint(1, 15) if self.rng.random() < 0.1 else 0
            priority = self.rng.choice((0, 0, 5)) if delay else 0
            tag = f"s{self.soak.seed}-{txn.name}-{len(txn.jobs) + 1}" + (f"-d{delay}" if delay else "")
            app = self.rng.choice(APPS)
            key = f"s{self.soak.seed}-{app}-k{self.rng.randrange(KEYS_PER_APP)}" if self.rng.random() < 0.7 else None
            txn.jobs.append(Job(tag=tag, key=key))
            max_attempts = self.rng.choice((10, 10, 10, 3))
            opt_user_id = poisoned(self.rng, 0.02) + tag
            trace = traceparent(tag) if self.rng.random() < 0.3 else None
            rows.append(f"('{{ding{self.rng.randrange(16**8):08x}}}', {sql_text(opt_user_id)}, {sql_text(tag)}, "
                        f"{sql_text(key)}, {sql_text(app)}, {max_attempts}, {priority}, now() + interval '{delay} seconds', "
                        f"{sql_text(trace)})")
        return ("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, idempotency_key, ordering_key, app, "
                "max_attempts, priority, run_at, traceparent) VALUES " + ", ".join(rows) + ";")

    def transact(self, txn, statements, hold, rollback):
        if self.session is None:
            self.session = Session(self.soak, self.log_path, self.name)
        self.soak.add_txn(txn)
        txn.begin = self.soak.now()
        for sql in ["BEGIN;"] + statements:
            if not self.session.run(sql):
                txn.outcome = "aborted"
                return self.lost(txn)
        self.soak.stopping.wait(hold)
        if rollback:
            txn.outcome = "rolled back"  # whether or not ROLLBACK's answer arrives, nothing committed
            if not self.session.run("ROLLBACK;"):
                self.lost(txn)
            return
        committed = self.session.run("COMMIT;")
        txn.end = self.soak.now()
        txn.outcome = "committed" if committed else "unknown"
        if not committed:
            self.lost(txn)

    def lost(self, txn):
        """psql ended: a lost connection is expected around a restart (reconnect and
        carry on); anything else is a refusal, printed with its stderr."""
        message = self.session.error()
        self.session = None
        if CONNECTION_LOST.search(message):
            self.lost_connections += 1
            self.soak.stopping.wait(0.5)  # let a restarting server come back before reconnecting
        else:
            self.soak.record_unexpected(f"producer {self.number} ({txn.name}, {txn.outcome})", message, self.log_path)

    def finish(self):
        if self.session is not None:
            self.session.close()


# ---------------------------------------------------------------- bulk loads

class BulkLoader(threading.Thread):
    """`enqueue --file` of JSON Lines files at seeded times: one of 20,000 lines with
    an ordering key each, the others of 3,000 lines on a few of the producers' keys."""

    def __init__(self, soak):
        super().__init__(name="bulk", daemon=True)
        self.soak = soak
        self.rng = random.Random(f"{soak.seed}-bulk")
        loads = max(3, round(soak.duration / 45))
        span = 0.7 * soak.duration / max(1, loads - 1)
        self.schedule = [(0.1 * soak.duration + i * span + self.rng.uniform(-0.1, 0.1) * span,
                          "distinct" if i == loads // 3 else "few") for i in range(loads)]
        self.done = 0

    def run(self):
        for number, (at, kind) in enumerate(self.schedule, 1):
            if self.soak.stopping.wait(max(0.0, at - self.soak.now())):
                return
            self.load(number, kind)

    def write_file(self, number, kind):
        txn = Txn(name=f"b{number}", begin=0.0)
        seed = self.soak.seed
        picks = [(app, f"s{seed}-{app}-k{self.rng.randrange(KEYS_PER_APP)}") for app in APPS for _ in range(2)]
        path = os.path.join(self.soak.run_dir, f"bulk-{number}.jsonl")
        lines = DISTINCT_KEYS_LOAD if kind == "distinct" else FEW_KEYS_LOAD
        with open(path, "w") as out:
            for i in range(1, lines + 1):
                tag = f"s{seed}-b{number}-{i}"
                if kind == "distinct":
                    app, key = APPS[i % len(APPS)], f"s{seed}-b{number}-k{i}"
                else:
                    app, key = self.rng.choice(picks) if i % 3 else (self.rng.choice(APPS), None)
                txn.jobs.append(Job(tag=tag, key=key))
                line = {"to_corp_ids": [f"ding{self.rng.randrange(16**8):08x}"],
                        "opt_user_id": poisoned(self.rng, 0.01) + tag, "idempotency_key": tag, "app": app}
                if key:
                    line["ordering_key"] = key
                if i % 3 == 0:
                    line["traceparent"] = traceparent(tag)
                out.write(json.dumps(line) + "\n")
        return txn, path

    def load(self, number, kind):
        """Retried while the failure is a lost connection (the file's idempotency keys
        make a retry safe); the load's window runs from the first try to the last exit."""
        txn, path = self.write_file(number, kind)
        log_path = os.path.join(self.soak.run_dir, f"bulk-{number}.log")
        self.soak.add_txn(txn)
        txn.begin = self.soak.now()
        self.soak.say(f"bulk load {number}: {len(txn.jobs)} lines ({'a key each' if kind == 'distinct' else 'few keys'})")
        for attempt in range(1, 6):
            with open(log_path, "a") as log:
                log.write(f"--- try {attempt} at {self.soak.now():.1f}s\n")
                log.flush()
                offset = log.tell()
                process = self.soak.spawn([self.soak.args.bin, "enqueue", "--file", path], stdout=log, stderr=log)
                try:
                    status = process.wait(timeout=ENQUEUE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    status = process.wait()
                self.soak.forget(process)
            txn.end = self.soak.now()
            if status == 0:
                txn.outcome = "committed"
                self.done += 1
                return
            with open(log_path) as log:
                log.seek(offset)
                message = log.read().strip() or f"enqueue exited {status} without a message"
            txn.outcome = "unknown"
            if not CONNECTION_LOST.search(message) or self.soak.stopping.is_set():
                self.soak.record_unexpected(f"bulk load {number} (enqueue exited {status})", message, log_path)
                return
            self.soak.stopping.wait(1.0)


# ---------------------------------------------------------------- workers

class Workers:
    def __init__(self, soak):
        self.soak = soak
        self.processes = {}
        self.generation = 0
        self.lock = threading.Lock()

    def start(self, n):
        self.generation += 1
        log = open(os.path.join(self.soak.run_dir, f"worker-{n}.log"), "a")
        self.processes[n] = self.soak.spawn([self.soak.args.bin, "run", "--worker-id",
                                             f"soak-w{n}-g{self.generation}"] + WORKER_FLAGS,
                                            env={"OTEL_EXPORTER_OTLP_ENDPOINT": self.soak.traces.url},
                                            stdout=log, stderr=log)
        log.close()

    def start_all(self):
        with self.lock:
            for n in range(1, WORKERS + 1):
                self.start(n)

    def kill(self, n):
        with self.lock:
            process = self.processes[n]
            process.kill()
            process.wait()
            self.soak.forget(process)
            self.start(n)

    def supervise(self):
        """A worker that exits by itself is reported with its log's tail, and restarted."""
        with self.lock:
            for n, process in self.processes.items():
                if process.poll() is None:
                    continue
                self.soak.forget(process)
                with open(os.path.join(self.soak.run_dir, f"worker-{n}.log")) as log:
                    tail = "".join(log.readlines()[-5:])
                self.soak.record_unexpected(f"worker {n} exited {process.returncode} by itself (restarted); its log ends",
                                            tail)
                self.start(n)

    def stop(self):
        """SIGTERM (they drain), then SIGKILL whatever is still running after 30 s."""
        with self.lock:
            for process in self.processes.values():
                process.terminate()
            for n, process in self.processes.items():
                try:
                    status = process.wait(timeout=30)
                    if status != 0:
                        self.soak.record_unexpected(f"worker {n}", f"exited {status} after SIGTERM (see worker-{n}.log)")
                except subprocess.TimeoutExpired:
                    self.soak.record_unexpected(f"worker {n}", "did not stop within 30 s of SIGTERM; killed")
                    process.kill()
                    process.wait()
                self.soak.forget(process)
            self.processes.clear()


class TraceSink:
    """An OTLP/HTTP endpoint every worker exports its spans to. It keeps the raw
    protobuf bodies (standard library only: scripts/trace-check decodes spans with
    opentelemetry-proto); the check looks for the producers' trace ids in them."""

    def __init__(self):
        sink = self
        self.lock = threading.Lock()
        self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with sink.lock:
                    sink.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self):
        with self.lock:
            return b"".join(self.bodies), len(self.bodies)


# ---------------------------------------------------------------- attacks

class Attacker(threading.Thread):
    """At seeded times: SIGKILL a random worker (and restart it), `pg_ctl restart -m
    fast`, SIGSTOP PostgreSQL's postmaster and children for 2-5 s."""

    def __init__(self, soak, workers):
        super().__init__(name="attacker", daemon=True)
        self.soak = soak
        self.workers = workers
        self.rng = random.Random(f"{soak.seed}-attacks")
        d = soak.duration
        twice = 1 if d < 120 else 2
        events = [(self.rng.uniform(0.08 * d, 0.9 * d), "kill") for _ in range(max(3, round(d / 30)))]
        events += [(self.rng.uniform(0.2 * d, 0.85 * d), "restart") for _ in range(twice)]
        events += [(self.rng.uniform(0.15 * d, 0.85 * d), "pause") for _ in range(twice)]
        self.schedule = sorted(events)
        self.scheduled = {kind: sum(1 for _, k in events if k == kind) for kind in soak.attacks}

    def run(self):
        for at, kind in self.schedule:
            if self.soak.stopping.wait(max(0.0, at - self.soak.now())):
                return
            getattr(self, kind)()
            self.soak.attacks[kind] += 1

    def kill(self):
        n = self.rng.randint(1, WORKERS)
        self.soak.say(f"SIGKILL worker {n} (and restart it)")
        self.workers.kill(n)

    def restart(self):
        self.soak.say("restarting PostgreSQL (pg_ctl restart -m fast)")
        data = self.soak.args.pg_data
        result = subprocess.run(as_postgres([os.path.join(self.soak.args.pg_bindir, "pg_ctl"), "-D",
                                             os.path.join(data, "cluster"), "-l", os.path.join(data, "postgres.log"),
                                             "-m", "fast", "-w", "-t", "60", "restart"]),
                                capture_output=True, text=True, timeout=150)
        if result.returncode != 0:
            self.soak.record_unexpected("pg_ctl restart", f"exited {result.returncode}: {result.stdout}{result.stderr}")

    def pause(self):
        seconds = self.rng.uniform(2, 5)
        self.soak.say(f"SIGSTOP PostgreSQL for {seconds:.1f} s")
        stopped = []
        try:
            postmaster = postmaster_pid(self.soak.args.pg_data)
            os.kill(postmaster, signal.SIGSTOP)
            stopped.append(postmaster)
            children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
            for pid in map(int, children):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            time.sleep(seconds)  # the attack itself: the server stays frozen this long
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass


def as_postgres(argv):
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


def postmaster_pid(data):
    with open(os.path.join(data, "cluster", "postmaster.pid")) as pid_file:
        return int(pid_file.readline())


class Reader(threading.Thread):
    """A REPEATABLE READ transaction that has read the jobs table, left idle for a
    seeded window; reopened if a restart ends it."""

    def __init__(self, soak):
        super().__init__(name="reader", daemon=True)
        self.soak = soak
        rng = random.Random(f"{soak.seed}-reader")
        self.opens = rng.uniform(0.05, 0.5) * soak.duration
        self.closes = self.opens + rng.uniform(0.2, 0.45) * soak.duration
        self.log_path = os.path.join(soak.run_dir, "reader.log")

    def run(self):
        if self.soak.stopping.wait(max(0.0, self.opens - self.soak.now())):
            return
        self.soak.say(f"REPEATABLE READ reader opens, until {self.closes:.0f}s")
        session = None
        while self.soak.now() < self.closes and not self.soak.stopping.is_set():
            if session is None:
                session = Session(self.soak, self.log_path, "reader")
                opened = self.soak.now()
                if not session.run("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM visibility_grant_jobs;"):
                    session = self.ended(session)
                    continue
            # Every 5 s a statement in the same snapshot shows whether the server still has it.
            self.soak.stopping.wait(min(5.0, max(0.0, self.closes - self.soak.now())))
            alive = session.run("SELECT 1;")
            self.soak.reader_seconds += self.soak.now() - opened
            opened = self.soak.now()
            if not alive:
                session = self.ended(session)
            else:
                self.read_horizon()
        if session is not None:
            session.run("COMMIT;")
            session.close()
        self.soak.say("REPEATABLE READ reader closed")

    def read_horizon(self):
        """Operators must see the open reader: `status --json` names the age of the
        oldest transaction holding the horizon. A status that fails (a restart under
        way) is not a reading."""
        try:
            result = subprocess.run([self.soak.args.bin, "status", "--json"], env=self.soak.env,
                                    capture_output=True, text=True, timeout=30)
            status = json.loads(result.stdout) if result.returncode == 0 else None
            age = status["database"].get("oldestTransactionAgeSeconds") if status else None
            stalled = [app["name"] for app in status["apps"] if app["stalled"]] if status else []
        except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
            return
        if result.returncode != 0:
            return
        with self.soak.lock:
            self.soak.horizon_readings += 1
            self.soak.horizon_longest = max(self.soak.horizon_longest, age or 0.0)
            # Three workers serve every app throughout: no app may look stalled.
            if stalled:
                self.soak.stalled_readings.append(f"{self.soak.now():.0f}s: {', '.join(stalled)}")

    def ended(self, session):
        message = session.error()
        if not CONNECTION_LOST.search(message):
            self.soak.record_unexpected("REPEATABLE READ reader", message, self.log_path)
        self.soak.stopping.wait(0.5)
        return None


# ---------------------------------------------------------------- the run

def progress(soak, producers, bulk, what):
    finished = soak.count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('succeeded', 'failed')")
    unfinished = soak.count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('pending', 'running')")
    with soak.lock:
        inserted = sum(len(t.jobs) for t in soak.txns if t.outcome == "committed")
        txns = sum(1 for t in soak.txns if t.name.startswith("p") and t.outcome == "committed")
    database = "database not answering" if finished is None or unfinished is None else \
        f"finished {finished}, unfinished {unfinished}"
    soak.say(f"{what}: inserted {inserted} ({txns} producer transactions, {bulk.done} bulk loads), "
             f"{database}; kills {soak.attacks['kill']}, PostgreSQL restarts {soak.attacks['restart']}, "
             f"pauses {soak.attacks['pause']}, producer reconnects {sum(p.lost_connections for p in producers)}")


def run(soak):
    workers = Workers(soak)
    producers = [Producer(soak, n) for n in range(1, 4)]
    bulk = BulkLoader(soak)
    attacker = Attacker(soak, workers)
    reader = Reader(soak)
    soak.say(f"soak: seed {soak.seed}, {soak.duration:.0f} s, {WORKERS} workers, {len(APPS)} apps, "
             f"{len(producers)} producers, {len(bulk.schedule)} bulk loads, attacks {attacker.scheduled}, "
             f"reader {reader.opens:.0f}-{reader.closes:.0f}s")
    workers.start_all()
    threads = producers + [bulk, attacker, reader]
    for thread in threads:
        thread.start()

    next_progress = PROGRESS_EVERY
    while soak.now() < soak.duration:
        time.sleep(min(1.0, soak.duration - soak.now()))  # a clock, not a synchronisation
        workers.supervise()
        if soak.now() >= next_progress:
            progress(soak, producers, bulk, "run")
            next_progress += PROGRESS_EVERY

    soak.say("time is up: stopping producers, bulk loads and attacks")
    soak.stopping.set()
    for thread in threads:
        thread.join(timeout=ENQUEUE_TIMEOUT if thread is bulk else 90)
        if thread.is_alive():
            soak.record_unexpected("harness", f"{thread.name} did not stop in time")
    for producer in producers:
        producer.finish()
    drain(soak, workers, producers, bulk)
    workers.stop()
    return check(soak, attacker)


def drain(soak, workers, producers, bulk):
    """Until nothing is pending or running, at most DRAIN_MOST, or DRAIN_STALL without change."""
    started = soak.now()
    last_change, last_seen = started, None
    next_progress = started + PROGRESS_EVERY
    while True:
        workers.supervise()
        seen = (soak.count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('pending', 'running')"),
                soak.count("SELECT count(*) FROM visibility_grant_jobs WHERE state IN ('succeeded', 'failed')"))
        if seen[0] == 0:
            soak.say(f"drained in {soak.now() - started:.0f} s")
            return
        if seen != last_seen:
            last_change, last_seen = soak.now(), seen
        if soak.now() - started > DRAIN_MOST or soak.now() - last_change > DRAIN_STALL:
            soak.say(f"gave up draining after {soak.now() - started:.0f} s: {seen[0]} jobs still unfinished")
            return
        if soak.now() >= next_progress:
            progress(soak, producers, bulk, "drain")
            next_progress += PROGRESS_EVERY
        time.sleep(1.0)  # polling the database


# ---------------------------------------------------------------- the checks

def check(soak, attacker):
    has_seq = soak.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'visibility_grant_jobs' "
                        "AND column_name = 'ordering_seq'")[0][0] == "1"
    rows = {}
    table = soak.psql("SELECT id, coalesce(idempotency_key, ''), ordering_key, state, coalesce(last_error_code, ''), "
                      f"{'ordering_seq' if has_seq else 'NULL'} FROM visibility_grant_jobs ORDER BY id", timeout=120)
    for r in table:
        rows[r[1]] = {"id": int(r[0]), "key": r[2] or None, "state": r[3], "code": r[4], "seq": int(r[5]) if r[5] else None}
    expired = {int(job): int(n) for job, n in soak.psql(
        "SELECT job_id, count(*) FROM visibility_grant_attempts WHERE outcome = 'lease_expired' GROUP BY job_id")}
    applied = [grant["optUserId"].removeprefix("nonexistent-") for grant in fake(soak, "/__fake/applied")]
    # What the checks read, kept beside the logs for a closer look.
    with open(os.path.join(soak.run_dir, "jobs.tsv"), "w") as out:
        out.write("id\ttag\tordering_key\tstate\tlast_error_code\tordering_seq\n")
        out.writelines("\t".join(r) + "\n" for r in table)
    with open(os.path.join(soak.run_dir, "applied.txt"), "w") as out:
        out.writelines(tag + "\n" for tag in applied)
    with open(os.path.join(soak.run_dir, "transactions.tsv"), "w") as out:
        out.write("name\tbegin\tend\toutcome\tjobs\n")
        out.writelines(f"{t.name}\t{t.begin:.3f}\t{t.end if t.end is None else round(t.end, 3)}\t{t.outcome}\t"
                       f"{len(t.jobs)}\n" for t in soak.txns)
    applications = {}
    for position, tag in enumerate(applied):
        applications.setdefault(tag, []).append(position)

    committed, lost, ghosts = resolve(soak.txns, rows, applications)
    stuck = sum(1 for row in rows.values() if row["state"] in ("pending", "running"))
    not_applied = sum(1 for tag, row in rows.items() if row["state"] == "succeeded" and tag not in applications)
    line_violations = line_order_violations(rows, applications, has_seq)
    txn_violations = transaction_order_violations(committed, rows, applications)
    twice = {tag: len(positions) - 1 for tag, positions in applications.items() if len(positions) > 1}
    beyond = sum(1 for tag, extra in twice.items() if tag in rows and extra > expired.get(rows[tag]["id"], 0))
    log_counts = grep_logs(soak)
    above_max = int(soak.psql("SELECT count(*) FROM visibility_grant_jobs WHERE attempts > max_attempts")[0][0])
    attacks_short = {k: f"{soak.attacks[k]}/{n}" for k, n in attacker.scheduled.items() if soak.attacks[k] < n}
    # Jobs queued for later: run, and never before their run_at (the first attempt's start).
    later, early = (int(v) for v in soak.psql(
        "SELECT count(*), count(*) FILTER (WHERE first_start < j.created_at + make_interval(secs => "
        "substring(j.idempotency_key from '-d([0-9]+)$')::int)) "
        "FROM visibility_grant_jobs AS j LEFT JOIN LATERAL (SELECT min(started_at) AS first_start "
        "FROM visibility_grant_attempts AS a WHERE a.job_id = j.id) AS f ON true "
        "WHERE j.idempotency_key ~ '-d[0-9]+$'")[0])

    # Trace contexts given by producers and bulk loads: kept as given.
    traced, mangled = (int(v) for v in soak.psql(
        "SELECT count(*), count(*) FILTER (WHERE traceparent <> '00-' || md5(idempotency_key) || '-' "
        "|| left(md5(idempotency_key), 16) || '-01') FROM visibility_grant_jobs WHERE traceparent IS NOT NULL")[0])
    # Spans of the traced jobs that succeeded reached the OTLP endpoint, in the producer's trace
    # (a SIGKILLed worker loses the spans it had not sent yet, so not every one).
    exported, exports = soak.traces.received()
    traced_done = [r[0] for r in soak.psql("SELECT md5(idempotency_key) FROM visibility_grant_jobs "
                                           "WHERE traceparent IS NOT NULL AND state = 'succeeded'", timeout=120)]
    traces_seen = sum(1 for digest in traced_done if bytes.fromhex(digest) in exported)
    # After the drain every app's signals say: nothing due, nothing stalled.
    final_status = subprocess.run([soak.args.bin, "status", "--json"], env=soak.env, capture_output=True, text=True, timeout=60)
    if final_status.returncode != 0:
        soak.record_unexpected("status after the drain", final_status.stderr.strip() or f"exit {final_status.returncode}")
    signals = [(app["name"], app.get("dueJobs"), app.get("stalled"))
               for app in json.loads(final_status.stdout or "{}").get("apps", [])]
    signals_wrong = [s for s in signals if s[1] != 0 or s[2]]

    summarize(soak, rows, committed, applied, applications, expired, has_seq)
    results = [
        (lost == 0, f"rows lost: {lost} (must be 0)"),
        (ghosts == 0, f"rows or applications of transactions that never committed: {ghosts} (must be 0)"),
        (stuck == 0, f"stuck (pending/running after drain): {stuck} (must be 0)"),
        (not_applied == 0, f"succeeded but never applied: {not_applied} (must be 0)"),
        (not line_violations, f"per-key order violations: {len(line_violations)} (must be 0)"),
        (not txn_violations, f"per-key order violations seen by producers: {len(txn_violations)} (must be 0)"),
        (len(twice) <= len(expired), f"jobs applied twice: {len(twice)} (bound: {len(expired)}, from leases that expired)"),
        (beyond == 0, f"jobs applied more often than their own expired leases allow: {beyond} (must be 0)"),
        (log_counts["deadlocks"] == 0, f"deadlocks in logs: {log_counts['deadlocks']} (must be 0)"),
        (log_counts["lock-space errors"] == 0, f"lock-space errors in logs: {log_counts['lock-space errors']} (must be 0)"),
        (above_max == 0, f"attempts above max_attempts: {above_max} (must be 0)"),
        (later > 0 and early == 0, f"jobs queued for later that ran before their run_at: {early} of {later} (must be 0 of more than 0)"),
        (traced > 0 and mangled == 0, f"trace contexts not kept as given: {mangled} of {traced} (must be 0 of more than 0)"),
        (traced_done and traces_seen * 4 >= len(traced_done) * 3,
         f"traced jobs whose producer's trace reached the OTLP endpoint: {traces_seen} of {len(traced_done)} "
         f"in {exports} exports (must be at least three quarters, of more than 0)"),
        (len(signals) == len(APPS) and not signals_wrong,
         f"apps whose signals after the drain show due or stalled jobs: {signals_wrong or 0} of {len(signals)} (must be 0 of {len(APPS)})"),
        (not soak.stalled_readings,
         f"status readings with an app stalled while workers served it: {len(soak.stalled_readings)} "
         f"of {soak.horizon_readings} (must be 0){': ' + '; '.join(soak.stalled_readings[:3]) if soak.stalled_readings else ''}"),
        (not soak.unexpected, f"other errors (producers, enqueue, workers, harness): {len(soak.unexpected)} (must be 0)"),
        (not attacks_short, f"attacks not run: {attacks_short or 0} (must be 0)"),
        (soak.reader_seconds < 10 or (soak.horizon_readings > 0 and soak.horizon_longest >= 1.0),
         f"status saw the open reader hold the horizon: longest {soak.horizon_longest:.0f} s "
         f"in {soak.horizon_readings} readings (must be at least 1 s)"),
    ]
    for ok, line in results:
        print(("   " if ok else "!! ") + line)
    for example in (line_violations + txn_violations)[:6]:
        print(f"   order: {example}")
    passed = all(ok for ok, _ in results)
    print("soak: PASS" if passed else f"soak: FAIL (logs in {soak.run_dir})", flush=True)
    return passed


def fake(soak, path):
    with urllib.request.urlopen(soak.args.fake_url + path, timeout=60) as answer:
        return json.load(answer)


def resolve(txns, rows, applications):
    """The committed transactions (an unknown outcome is what the database shows:
    committed if any of its jobs exist), the committed jobs missing from the table,
    and the rows and applications of jobs that were never committed or not ours."""
    committed, lost, ghosts = [], 0, 0
    for txn in txns:
        present = sum(1 for job in txn.jobs if job.tag in rows)
        if txn.outcome == "unknown":
            txn.outcome = "committed" if present else "aborted"
        if txn.outcome == "committed":
            committed.append(txn)
            lost += len(txn.jobs) - present
        else:
            ghosts += present + sum(1 for job in txn.jobs if job.tag in applications)
    ours = {job.tag for txn in txns for job in txn.jobs}
    ghosts += sum(1 for tag in rows if tag not in ours) + sum(1 for tag in applications if tag not in ours)
    return committed, lost, ghosts


def summarize(soak, rows, committed, applied, applications, expired, has_seq):
    def tally(values):
        counts = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        return dict(sorted(counts.items()))

    producer_txns = tally(t.outcome for t in soak.txns if t.name.startswith("p"))
    bulk_loads = tally(t.outcome for t in soak.txns if t.name.startswith("b"))
    per_app = {key: stats.get("applied", 0) for key, stats in fake(soak, "/__fake/stats").get("apps", {}).items()}
    print()
    print(f"producer transactions: {producer_txns}; bulk loads: {bulk_loads}")
    print(f"jobs committed: {sum(len(t.jobs) for t in committed)}; rows by state: "
          f"{tally(row['state'] for row in rows.values())}; failed by code: "
          f"{tally(row['code'] for row in rows.values() if row['state'] == 'failed')}")
    print(f"API applications: {len(applied)} ({len(applications)} distinct jobs), by app key {per_app}; "
          f"lease_expired attempts: {sum(expired.values())}; per-key line: "
          f"{'ordering_seq, then id' if has_seq else 'id (no ordering_seq column)'}")
    print(f"attacks: {soak.attacks['kill']} SIGKILLs, {soak.attacks['restart']} PostgreSQL restarts, "
          f"{soak.attacks['pause']} SIGSTOPs, REPEATABLE READ reader open {soak.reader_seconds:.0f} s")
    print()


def out_of_order(key, spans):
    """Of a key's jobs in line order, as (tag, first, last) application positions: those
    applied before the last application of a job ahead of them, described."""
    bad, latest, latest_tag = [], -1, None
    for tag, first, last in spans:
        if first < latest:
            bad.append(f"{key}: {tag} applied (#{first}) before the last application of {latest_tag} (#{latest}), "
                       "which is ahead of it")
        if last > latest:
            latest, latest_tag = last, tag
    return bad


def line_order_violations(rows, applications, has_seq):
    """Per key, its applied jobs in line order: ordering_seq then id, or id alone."""
    lines = {}
    for tag, row in rows.items():
        if row["key"] is not None and tag in applications:
            place = (row["seq"] is None, row["seq"] or 0, row["id"]) if has_seq else (False, 0, row["id"])
            lines.setdefault(row["key"], []).append((place, tag))
    bad = []
    for key, jobs in lines.items():
        bad += out_of_order(key, [(tag, min(applications[tag]), max(applications[tag])) for _, tag in sorted(jobs)])
    return bad


def transaction_order_violations(committed, rows, applications):
    """Per key: a transaction whose COMMIT returned before another's BEGIN was sent has
    all its jobs of the key applied before any of the other's; within a transaction,
    a key's jobs apply in id order."""
    per_key = {}
    bad = []
    for txn in committed:
        spans_by_key = {}
        for job in txn.jobs:
            if job.key is not None and job.tag in applications and job.tag in rows:
                positions = applications[job.tag]
                spans_by_key.setdefault(job.key, []).append((rows[job.tag]["id"], job.tag, min(positions), max(positions)))
        for key, spans in spans_by_key.items():
            spans.sort()
            bad += out_of_order(key, [(tag, first, last) for _, tag, first, last in spans])
            per_key.setdefault(key, []).append((txn.end, txn, min(s[2] for s in spans), max(s[3] for s in spans)))
    for key, txns in per_key.items():
        txns.sort(key=lambda t: t[0])
        ends = [end for end, _, _, _ in txns]
        latest = []  # per prefix: (last application, its transaction)
        for _, txn, _, last in txns:
            latest.append(max(latest[-1], (last, txn.name)) if latest else (last, txn.name))
        for _, txn, first, _ in txns:
            before = bisect.bisect_left(ends, txn.begin)  # transactions whose COMMIT returned before this BEGIN
            if before and latest[before - 1][0] > first:
                bad.append(f"{key}: {txn.name} (began {txn.begin:.1f}s) applied a job (#{first}) before "
                           f"{latest[before - 1][1]}, committed before it began, was done (#{latest[before - 1][0]})")
    return bad


def grep_logs(soak):
    """Lines matching each pattern in the server log and every log under the run folder."""
    paths = [os.path.join(soak.args.pg_data, "postgres.log")]
    paths += [os.path.join(soak.run_dir, name) for name in sorted(os.listdir(soak.run_dir)) if name.endswith(".log")]
    counts = dict.fromkeys(LOG_PATTERNS, 0)
    for path in paths:
        with open(path, errors="replace") as log:
            for line in log:
                for name, pattern in LOG_PATTERNS.items():
                    if pattern.search(line):
                        counts[name] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description="scripts/soak's engine; run scripts/soak instead")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--duration", type=parse_duration, required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--pg-data", required=True, help="the cluster's folder (scripts/dev-postgres layout)")
    parser.add_argument("--pg-bindir", required=True)
    soak = Soak(parser.parse_args())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        passed = run(soak)
    finally:
        soak.stopping.set()
        with soak.lock:
            children = list(soak.children)
        for process in children:
            if process.poll() is None:
                process.kill()
            process.wait()
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
