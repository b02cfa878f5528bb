"""An OTLP/HTTP traces endpoint on 127.0.0.1 that decodes what it is sent with
OpenTelemetry's own protocol definitions (opentelemetry-proto).

Imported by trace_check.py, which keeps every span to judge it. Run as a program
(scripts/bench, scenario A with tracing on), it counts spans without keeping
them, writes its URL to --url-file, and answers GET /stats with
{"exports": N, "spans": N, "undecodable": N}.
"""

import argparse
import gzip
import http.server
import json
import os
import signal
import sys
import threading

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def attributes_of(key_values):
    values = {}
    for item in key_values:
        kind = item.value.WhichOneof("value")
        values[item.key] = getattr(item.value, kind) if kind else None
    return values


class Receiver:
    """Takes POST /v1/traces; `keep` keeps (resource attributes, span) pairs, else only counts."""

    def __init__(self, keep=True):
        self.lock = threading.Lock()
        self.keep = keep
        self.exports = 0
        self.span_count = 0
        self.undecodable = 0
        self.spans = []
        self.paths = []
        self.content_types = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as an exporter expects of a collector

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest()
                try:
                    request.ParseFromString(body)
                except Exception:
                    with receiver.lock:
                        receiver.undecodable += 1
                    self.answer(400, b"")
                    return
                receiver.take(self.path, self.headers.get("Content-Type"), request)
                self.answer(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

            def do_GET(self):
                with receiver.lock:
                    stats = {"exports": receiver.exports, "spans": receiver.span_count, "undecodable": receiver.undecodable}
                self.answer(200, json.dumps(stats).encode(), "application/json")

            def answer(self, status, body, content_type="text/plain"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, path, content_type, request):
        with self.lock:
            self.exports += 1
            self.paths.append(path)
            self.content_types.append(content_type)
            for resource_spans in request.resource_spans:
                resource = attributes_of(resource_spans.resource.attributes) if self.keep else None
                for scope_spans in resource_spans.scope_spans:
                    self.span_count += len(scope_spans.spans)
                    if self.keep:
                        self.spans.extend((resource, span) for span in scope_spans.spans)

    def snapshot(self):
        with self.lock:
            return self.exports, list(self.spans)


def main():
    parser = argparse.ArgumentParser(description="an OTLP/HTTP traces receiver that counts spans")
    parser.add_argument("--url-file", required=True)
    args = parser.parse_args()
    receiver = Receiver(keep=False)
    with open(args.url_file + ".tmp", "w") as out:
        out.write(receiver.url + "\n")
    os.replace(args.url_file + ".tmp", args.url_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    receiver.server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
