"""Judges the worker's traces with OpenTelemetry's own protocol definitions.

A small OTLP/HTTP receiver (this file) decodes every export with
`opentelemetry-proto`. Producers queue four jobs, three with a `traceparent`
of their own (one through `enqueue --traceparent`, two by INSERT) and one
without; the fake API answers them with a success, a retry then a success, and
a terminal failure. After `run --until-empty`, each producer's trace must hold
one span per attempt, a child of the producer's span and linked to it, and under
each attempt the DingTalk call as a client span with the method, the URL
template, the status, DingTalk's code and request id, and never the token.
A run without OTEL_EXPORTER_OTLP_ENDPOINT must export nothing, and a protocol
this build cannot speak must be refused with a clear message.

Prints "ok: ..." or "FAIL: ..." per check and "trace-check: N checks, N failed" last.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import urllib.request

from opentelemetry.proto.trace.v1 import trace_pb2

from otlp_receiver import Receiver, attributes_of

GRANT_PATH = "/v1.0/contact/orgAccounts/mobiles/visibleInOtherOrg"
TERMINAL_CODE = "employee.not.exist"


class Check:
    def __init__(self, args):
        self.args = args
        self.checks = 0
        self.failed = 0
        self.receiver = Receiver()

    def expect(self, title, problems):
        self.checks += 1
        if problems:
            self.failed += 1
            print(f"FAIL: {title}")
            for problem in problems[:12]:
                print(f"      {problem}")
        else:
            print(f"ok: {title}")

    # -- the parts ---------------------------------------------------------------

    def environment(self, **extra):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        environment.update({
            "DATABASE_URL": self.args.database_url,
            "DINGTALK_BASE_URL": self.args.base_url,
            "DINGTALK_APP_KEY": "fake-app-key",
            "DINGTALK_APP_SECRET": "fake-app-secret",
            "VISIBILITY_WORKER_LOG_LEVEL": "notice",
        })
        environment.update(extra)
        return environment

    def worker(self, arguments, timeout=120, **extra):
        return subprocess.run([self.args.bin] + arguments, env=self.environment(**extra),
                              capture_output=True, text=True, timeout=timeout)

    def sql(self, statement):
        finished = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", self.args.database_url, "-c", statement],
                                  capture_output=True, text=True, timeout=60)
        if finished.returncode != 0:
            raise RuntimeError(f"psql failed: {finished.stderr.strip()}")
        return finished.stdout.strip()

    def fake(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.args.base_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode()
            return json.loads(text) if text else None

    # -- the scenario ------------------------------------------------------------

    def run(self):
        migrated = self.worker(["migrate"])
        if migrated.returncode != 0:
            self.expect("migrate", [migrated.stderr.strip()])
            return
        self.sql("DELETE FROM visibility_grant_jobs")

        producers = {name: (secrets.token_hex(16), secrets.token_hex(8)) for name in ("retried", "failed", "succeeded")}
        traceparent = {name: f"00-{trace}-{span}-01" for name, (trace, span) in producers.items()}
        # The claim takes the highest priority first, one job at a time (--batch-size 1 --concurrency 1):
        # the retried job meets the first scripted answer, the failed one the second.
        queued = self.worker(["enqueue", "--corp-id", "dingtrace", "--opt-user-id", "trace-retried", "--priority", "30",
                              "--traceparent", traceparent["retried"]])
        if queued.returncode != 0:
            self.expect("enqueue --traceparent", [queued.stderr.strip()])
            return
        self.sql(f"""INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, priority, traceparent) VALUES
                     ('{{dingtrace}}', 'trace-failed', 20, '{traceparent["failed"]}'),
                     ('{{dingtrace}}', 'trace-succeeded', 10, '{traceparent["succeeded"]}'),
                     ('{{dingtrace}}', 'trace-untraced', 0, NULL)""")
        jobs = dict(line.split("|") for line in self.sql(
            "SELECT opt_user_id, id FROM visibility_grant_jobs WHERE opt_user_id LIKE 'trace-%'").splitlines())
        self.fake("PUT", "/__fake/script", [
            {"fault": "html", "status": 502, "requestId": "rq-trace-retry"},
            {"code": TERMINAL_CODE, "requestId": "rq-trace-terminal"},
        ])
        requests_before = len(self.fake("GET", "/__fake/requests"))

        ran = self.worker(["run", "--until-empty", "--concurrency", "1", "--batch-size", "1",
                           "--backoff-base", "100ms", "--backoff-max", "1s"],
                          OTEL_EXPORTER_OTLP_ENDPOINT=self.receiver.url)
        self.expect("run --until-empty with OTEL_EXPORTER_OTLP_ENDPOINT exits 0",
                    [] if ran.returncode == 0 else [f"exit {ran.returncode}: {ran.stderr.strip()[-800:]}"])
        states = dict(line.split("|") for line in self.sql(
            "SELECT opt_user_id, state || ' ' || attempts FROM visibility_grant_jobs WHERE opt_user_id LIKE 'trace-%'").splitlines())
        self.expect("the jobs end as scripted", diff(states, {
            "trace-retried": "succeeded 2", "trace-failed": "failed 1", "trace-succeeded": "succeeded 1",
            "trace-untraced": "succeeded 1"}))
        grant_calls = [r for r in self.fake("GET", "/__fake/requests")[requests_before:] if r["path"] == GRANT_PATH]
        tokens = {r["headers"].get("x-acs-dingtalk-access-token") for r in grant_calls} - {None}

        exports, spans = self.receiver.snapshot()
        self.expect("spans arrive over OTLP/HTTP at /v1/traces as protobuf",
                    [] if exports > 0 and set(self.receiver.paths) == {"/v1/traces"}
                    and set(self.receiver.content_types) == {"application/x-protobuf"}
                    else [f"{exports} exports to {set(self.receiver.paths)} as {set(self.receiver.content_types)}"])
        names = {resource.get("service.name") for resource, _ in spans}
        self.expect("the service is named visibility-worker", diff(names, {"visibility-worker"}))

        attempts = [s for _, s in spans if s.kind == trace_pb2.Span.SPAN_KIND_CONSUMER]
        clients = [s for _, s in spans if s.kind == trace_pb2.Span.SPAN_KIND_CLIENT]
        by_job = {}
        for span in attempts:
            by_job.setdefault(attributes_of(span.attributes).get("messaging.message.id"), []).append(span)
        expected_outcomes = {"retried": ["retry", "succeeded"], "failed": ["failed"], "succeeded": ["succeeded"]}
        for name, (trace_id, span_id) in producers.items():
            ours = sorted(by_job.get(jobs[f"trace-{name}"], []), key=lambda s: attributes_of(s.attributes).get("visibility.attempt"))
            problems = []
            outcomes = [attributes_of(s.attributes).get("visibility.outcome") for s in ours]
            if outcomes != expected_outcomes[name]:
                problems.append(f"attempt outcomes {outcomes}, expected {expected_outcomes[name]}")
            for span in ours:
                attempt = attributes_of(span.attributes).get("visibility.attempt")
                if span.trace_id.hex() != trace_id:
                    problems.append(f"attempt {attempt}: trace {span.trace_id.hex()}, not the producer's {trace_id}")
                if span.parent_span_id.hex() != span_id:
                    problems.append(f"attempt {attempt}: parent {span.parent_span_id.hex() or '(none)'}, not the producer's span {span_id}")
                links = [(l.trace_id.hex(), l.span_id.hex()) for l in span.links]
                if links != [(trace_id, span_id)]:
                    problems.append(f"attempt {attempt}: links {links}, expected one to the producer's span")
                if span.name != "process visibility_grant_jobs":
                    problems.append(f"attempt {attempt}: named {span.name!r}")
            self.expect(f"{name}: one span per attempt, in the producer's trace, its child, linked to it", problems)

            problems = [] if ours else ["no attempt span to look under"]
            for span in ours:
                attempt = attributes_of(span.attributes)
                children = [c for c in clients if c.parent_span_id == span.span_id]
                if len(children) != 1:
                    problems.append(f"attempt {attempt.get('visibility.attempt')}: {len(children)} client spans under it")
                    continue
                client = children[0]
                values = attributes_of(client.attributes)
                call = next((r for r in grant_calls if r.get("requestId") == values.get("dingtalk.request_id")), None)
                expected = {
                    "http.request.method": "PUT",
                    "url.template": GRANT_PATH,
                    "http.response.status_code": call["status"] if call else "(a recorded call)",
                }
                problems += [f"attempt {attempt.get('visibility.attempt')}: {p}" for p in diff(
                    {k: values.get(k) for k in expected}, expected)]
                if client.trace_id != span.trace_id:
                    problems.append("client span in another trace")
                if client.name != f"PUT {GRANT_PATH}":
                    problems.append(f"client span named {client.name!r}")
                if call is None:
                    problems.append(f"request id {values.get('dingtalk.request_id')!r} is no recorded grant call's")
                outcome = attempt.get("visibility.outcome")
                if outcome == "failed":
                    if values.get("dingtalk.code") != TERMINAL_CODE or attempt.get("error.type") != TERMINAL_CODE:
                        problems.append(f"failed attempt: dingtalk.code {values.get('dingtalk.code')!r}, error.type {attempt.get('error.type')!r}")
                    if values.get("dingtalk.request_id") != "rq-trace-terminal":
                        problems.append(f"failed attempt: request id {values.get('dingtalk.request_id')!r}")
                if outcome == "retry":
                    if values.get("dingtalk.request_id") != "rq-trace-retry":
                        problems.append(f"retried attempt: request id {values.get('dingtalk.request_id')!r}")
                    # A gateway's page is no DingTalk answer: its code is ours, kept apart.
                    if values.get("error.type") != "http.502" or "dingtalk.code" in values:
                        problems.append(f"retried attempt: error.type {values.get('error.type')!r}, "
                                        f"dingtalk.code {values.get('dingtalk.code')!r}")
                want_error = outcome in ("failed", "retry")
                for which, s in (("attempt", span), ("client", client)):
                    is_error = s.status.code == trace_pb2.Status.STATUS_CODE_ERROR
                    if is_error != want_error:
                        problems.append(f"{outcome} attempt: {which} span status {s.status.code}")
            self.expect(f"{name}: the DingTalk call is a client span under each attempt, with its status, code and request id",
                        problems)

        show_trace(producers["retried"], traceparent["retried"], jobs["trace-retried"], spans)

        untraced = by_job.get(jobs["trace-untraced"], [])
        producer_traces = {trace for trace, _ in producers.values()}
        self.expect("a job without traceparent starts a trace of its own, unlinked", [] if len(untraced) == 1
                    and not untraced[0].parent_span_id and not untraced[0].links
                    and untraced[0].trace_id.hex() not in producer_traces else
                    [f"{len(untraced)} spans: {[(s.trace_id.hex(), s.parent_span_id.hex(), len(s.links)) for s in untraced]}"])

        leaks = []
        if not tokens:
            leaks.append("no token seen in the recorded calls")
        if not clients:
            leaks.append("no client span to look into")
        for _, span in spans:
            for key, value in attributes_of(span.attributes).items():
                if "token" in key.lower() or any(token in str(value) for token in tokens):
                    leaks.append(f"{span.name}: {key}={value!r}")
        self.expect("no span carries the access token", leaks)

        # Without an endpoint, nothing goes out.
        self.sql("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id, traceparent) "
                 f"VALUES ('{{dingtrace}}', 'trace-quiet', '00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01')")
        exports_before, _ = self.receiver.snapshot()
        quiet = self.worker(["run", "--until-empty"], OTEL_SERVICE_NAME="should-not-export")
        exports_after, spans_after = self.receiver.snapshot()
        self.expect("without OTEL_EXPORTER_OTLP_ENDPOINT nothing is exported",
                    [] if quiet.returncode == 0 and exports_after == exports_before
                    else [f"exit {quiet.returncode}, {exports_after - exports_before} exports: {quiet.stderr.strip()[-400:]}"])

        refused = self.worker(["run", "--until-empty"], OTEL_EXPORTER_OTLP_ENDPOINT=self.receiver.url,
                              OTEL_EXPORTER_OTLP_PROTOCOL="grpc", timeout=60)
        self.expect("a protocol this build cannot speak is refused by name", [] if refused.returncode not in (0,)
                    and "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in refused.stderr and "only http/protobuf" in refused.stderr
                    and "Fatal error" not in refused.stderr else [f"exit {refused.returncode}: {refused.stderr.strip()[-400:]}"])


def show_trace(producer, traceparent, job_id, spans):
    """Prints one producer's trace as a tree, the way a trace viewer shows it."""
    trace_id, span_id = producer
    ours = [s for _, s in spans if s.trace_id.hex() == trace_id]
    print(f"trace {trace_id}")
    print(f"  {span_id}  the producer's span: INSERT INTO visibility_grant_jobs (..., traceparent) "
          f"VALUES (..., '{traceparent}')  -> job {job_id}")

    def describe(span):
        values = attributes_of(span.attributes)
        took = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        kind = trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower()
        shown = {k: v for k, v in sorted(values.items()) if k not in ("messaging.operation.type", "messaging.destination.name")}
        links = " links: " + ", ".join(l.span_id.hex() for l in span.links) if span.links else ""
        status = " ERROR" if span.status.code == trace_pb2.Status.STATUS_CODE_ERROR else ""
        return f"{span.span_id.hex()}  {span.name}  ({kind}, {took:.1f} ms{status}){links}\n" + "".join(
            f"{' ' * 8}{key}={value}\n" for key, value in shown.items())

    def walk(parent, depth):
        for span in sorted((s for s in ours if s.parent_span_id.hex() == parent), key=lambda s: s.start_time_unix_nano):
            text = describe(span)
            print("  " + "  " * depth + "└─ " + text.replace("\n" + " " * 8, "\n" + " " * (8 + 2 * depth)), end="")
            walk(span.span_id.hex(), depth + 1)

    walk(span_id, 1)


def diff(actual, expected):
    if isinstance(expected, dict):
        return [f"{key}: {actual.get(key)!r}, expected {value!r}" for key, value in expected.items() if actual.get(key) != value]
    return [] if actual == expected else [f"{actual!r}, expected {expected!r}"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--database-url", required=True)
    check = Check(parser.parse_args())
    try:
        check.run()
    except Exception as error:  # a broken step is a failed check, with its reason, never a silent exit
        check.expect("the scenario ran to its end", [f"{type(error).__name__}: {error}"])
    print(f"trace-check: {check.checks} checks, {check.failed} failed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
