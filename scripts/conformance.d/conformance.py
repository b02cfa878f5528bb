"""Judges the fake DingTalk API and visibility-worker's client by the official SDK.

Run by scripts/conformance, which starts the fake (with --record-requests) and
a PostgreSQL cluster. Three checks, each printed as `ok` or `FAIL` with a diff:

1. requests:  the same grants sent by the official SDK, by `visibility-worker
   apply` and by `visibility-worker run` (through the queue) arrive at the fake
   with the same method, path, token header, content type and JSON body;
2. responses: for every row of the fake's error table (GET /__fake/error-codes),
   plus codes outside it and a JSON 429, the SDK's exception and our classifier
   agree on code, HTTP status and request id, and our class is the table's; for
   every answer that is not DingTalk's JSON (a gateway's 502/504/408/403 page,
   an empty 503, a plain-text 429, DingTalk's ban page, a reset) both fail the
   call and ours is classed by the status first; a 500 from the token endpoint
   sends no grant call and uses no attempt; on success both see `result: true`;
3. token:     the SDK's get_access_token returns the token our provider sends,
   and a wrong secret is refused the same way for both;
4. https:     with --tls-base-url (the fake started with --tls-cert/--tls-key) and
   --ca-file (its private CA), both clients fetch a token and send a grant over
   TLS, trusting only that CA, and the requests arrive alike (the SDK speaks
   HTTP/1.1, `visibility-worker apply` HTTP/2 through ALPN).
"""

import argparse
import importlib.metadata
import json
import os
import ssl
import subprocess
import sys
import urllib.request

from alibabacloud_dingtalk.contact_1_0 import models as contact_models
from alibabacloud_dingtalk.contact_1_0.client import Client as ContactClient
from alibabacloud_dingtalk.oauth2_1_0 import models as oauth_models
from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_util import models as util_models

# docs/DESIGN.md's Answer table, written out here rather than read from the fake: the
# fake and our classifier share one table, so only an independent copy can catch a wrong row.
ANSWER_TABLE_CLASSES = {
    (400, "InvalidAuthentication"): "token",
    (400, "invalidClientIdOrSecret"): "config",
    (400, "invalid.param"): "terminal",
    (400, "employee.not.exist"): "terminal",
    (400, "profile.not.exist"): "terminal",
    (400, "exclusive.account.limit"): "terminal",
    (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"): "throttled",
    (403, "Forbidden.AccessDenied.QpsLimitForApi"): "throttled",
    (403, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi"): "throttled",
    (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied"): "config",
    (403, "Forbidden.AccessDenied.IpNotInWhiteList"): "config",
    (403, "Forbidden.AccessDenied.ApiCountLimitForOrg"): "quota",
    (500, "system.busy"): "transient",
}


def answer_table_class(status, code):
    """The class docs/DESIGN.md's Answer table gives: any 429 is a throttle; a code it
    names keeps its class whatever the status; 5xx and 408 are transient; any other
    code on a 4xx is terminal."""
    if status == 429:
        return "throttled"
    by_code = {known: outcome for (_, known), outcome in ANSWER_TABLE_CLASSES.items()}
    if code in by_code:
        return by_code[code]
    if code == "AuthenticationFailed.MissingParameter":
        return "token"  # a refused token, like InvalidAuthentication
    if status >= 500 or status == 408:
        return "transient"
    return "terminal" if 400 <= status < 500 else "transient"


# Answers that are not DingTalk's JSON (docs/DESIGN.md's Answer table, issue 27): what a
# gateway, proxy or load balancer in front of DingTalk sends, and DingTalk's own ban.
# (title, scripted entry, our class, our HTTP status, our code)
GATEWAY_ANSWERS = [
    ("nginx's 502 page (text/html)", {"fault": "html", "status": 502}, "transient", 502, "http.502"),
    ("a 504 page (text/html)", {"fault": "html", "status": 504}, "transient", 504, "http.504"),
    ("an empty 503", {"fault": "empty", "status": 503}, "transient", 503, "http.503"),
    ("a 408 page", {"fault": "html", "status": 408}, "transient", 408, "http.408"),
    ("a plain-text 429 (text/plain)", {"fault": "text", "status": 429}, "throttled", 429, "http.429"),
    ("a 403 page that is not the ban", {"fault": "html", "status": 403}, "transient", 403, "non.json.body"),
    ("DingTalk's ban page (\"punish\":\"deny\")", {"fault": "ban"}, "banned", 200, "punish.deny"),
    ("a dropped connection", {"fault": "reset"}, "transient", None, "connection.reset"),
]


# The exceptions the SDK raises for an error answer (darabonba wraps the gateway's TeaException).
SDK_ERROR_TYPES = {"UnretryableException", "TeaException"}

GRANT_PATH = "/v1.0/contact/orgAccounts/mobiles/visibleInOtherOrg"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
TOKEN_HEADER = "x-acs-dingtalk-access-token"

# fields=None: the SDK leaves the key out, as our client does for an empty list.
GRANTS = [
    {"name": "one corp, no fields", "corps": ["dingconf001"], "user": "102530009661373952", "fields": None},
    {"name": "mobile only", "corps": ["dingconf002"], "user": "manager4220", "fields": ["mobile"]},
    {"name": "both fields, three corps", "corps": ["dingconf003", "dingconf004", "dingconf005"], "user": "u-3",
     "fields": ["mobile", "status"]},
    {"name": "status only", "corps": ["dingconf006"], "user": "u-4", "fields": ["status"]},
    {"name": "unicode and escapes in ids", "corps": ["ding组织甲", "dingÄÖü", "ding\U0001F600"],
     "user": '用户 "quoted" \\ back/slash\ttab', "fields": ["status", "mobile"]},
    {"name": "100 corps", "corps": [f"dingconf{i:04d}" for i in range(100)], "user": "u-100", "fields": ["mobile"]},
]


class Checker:
    def __init__(self, args):
        self.base_url = args.base_url.rstrip("/")
        self.binary = args.bin
        self.database_url = args.database_url
        self.app_key = args.app_key
        self.app_secret = args.app_secret
        endpoint = self.base_url.split("://", 1)[1]
        config = openapi_models.Config(protocol="http", endpoint=endpoint)
        self.oauth = OAuthClient(config)
        self.contact = ContactClient(config)
        self.checks = 0
        self.failures = 0

    # -- the fake's admin endpoints ------------------------------------------

    def fake(self, method, path, body=None, base_url=None, context=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request((base_url or self.base_url) + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.loads(response.read())

    def recorded(self, base_url=None, context=None):
        return self.fake("GET", "/__fake/requests", base_url=base_url, context=context)

    def script(self, entries):
        self.fake("PUT", "/__fake/script", entries)

    # -- the two clients -----------------------------------------------------

    def sdk_token(self, secret=None):
        request = oauth_models.GetAccessTokenRequest(app_key=self.app_key, app_secret=secret or self.app_secret)
        return self.oauth.get_access_token(request)

    def sdk_grant(self, grant, token):
        request = contact_models.OrgAccountMobileVisibleInOtherOrgRequest(
            to_corp_ids=grant["corps"], opt_user_id=grant["user"], fields=grant["fields"])
        headers = contact_models.OrgAccountMobileVisibleInOtherOrgHeaders(x_acs_dingtalk_access_token=token)
        return self.contact.org_account_mobile_visible_in_other_org_with_options(
            request, headers, util_models.RuntimeOptions())

    def ours(self, grant, secret=None, base_url=None, extra_environment=None):
        """`visibility-worker apply --json`: what our client sent, classified."""
        command = [self.binary, "apply", "--json", "--opt-user-id", grant["user"]]
        for corp in grant["corps"]:
            command += ["--corp-id", corp]
        for field in grant["fields"] or []:
            command += ["--field", field]
        environment = dict(os.environ, DINGTALK_BASE_URL=base_url or self.base_url, DINGTALK_APP_KEY=self.app_key,
                           DINGTALK_APP_SECRET=secret or self.app_secret, DINGTALK_REQUEST_TIMEOUT="5s",
                           **(extra_environment or {}))
        environment.pop("DINGTALK_ACCESS_TOKEN", None)
        environment.pop("DINGTALK_APP_SECRET_FILE", None)
        finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
        lines = finished.stdout.strip().splitlines()
        if finished.returncode not in (0, 1) or not lines:
            raise RuntimeError(f"visibility-worker apply exited {finished.returncode}: {finished.stderr.strip()}")
        return json.loads(lines[-1])

    def run_ours(self, arguments, environment, stdin=None, timeout=60):
        """Runs the binary; a failure says which command, its exit status and its
        stderr (the last 40 lines), so a failed step is never a bare exit 1."""
        command = [self.binary] + arguments
        try:
            finished = subprocess.run(command, env=environment, input=stdin, text=True, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            stderr = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else (expired.stderr or "")
            raise RuntimeError(f"visibility-worker {' '.join(arguments)} did not finish within {timeout} s; its stderr:\n"
                               + "\n".join(stderr.splitlines()[-40:])) from None
        if finished.returncode != 0:
            raise RuntimeError(f"visibility-worker {' '.join(arguments)} exited {finished.returncode}; its stderr:\n"
                               + "\n".join(finished.stderr.splitlines()[-40:]))
        return finished

    # -- reporting -----------------------------------------------------------

    def expect(self, title, differences):
        self.checks += 1
        if differences:
            self.failures += 1
            print(f"FAIL {title}")
            for line in differences:
                print(f"       {line}")
        else:
            print(f"ok   {title}")

    @staticmethod
    def compare(pairs):
        """[(what, sdk value, our value)] -> lines for the ones that differ."""
        return [f"{what}: official SDK {sdk!r} != visibility-worker {ours!r}" for what, sdk, ours in pairs if sdk != ours]

    # -- 1. requests, and 3. the token both clients use ----------------------

    def check_requests(self):
        seen = len(self.recorded())
        sdk_token = self.sdk_token().body.access_token
        sdk_token_post = self.recorded()[seen]
        seen += 1
        for grant in GRANTS:
            self.sdk_grant(grant, sdk_token)
            ours = self.ours(grant)
            exchanges = self.recorded()[seen:]
            seen += len(exchanges)
            puts = [e for e in exchanges if e["method"] == "PUT"]
            our_token_posts = [e for e in exchanges if e["path"] == TOKEN_PATH]
            if len(puts) != 2 or len(our_token_posts) != 1:
                self.expect(f"requests: {grant['name']}",
                            [f"expected a PUT from each client and our token request, saw {len(exchanges)} requests"])
                continue
            sdk_put, our_put = puts
            differences = request_differences(sdk_put, our_put)
            if ours.get("outcome") != "success":
                differences.append(f"visibility-worker did not apply it: {ours}")
            self.expect(f"requests: {grant['name']}", differences)
            if grant is GRANTS[0]:
                differences = self.compare([("token", sdk_token, our_put["headers"].get(TOKEN_HEADER))])
                differences += request_differences(sdk_token_post, our_token_posts[0])
                self.expect("token: our provider sends the token the SDK's get_access_token returned", differences)
        return sdk_token

    def check_queue_requests(self, sdk_token):
        """The same grants through the queue: enqueue, then `run --until-empty`."""
        if not self.database_url:
            self.expect("requests through the queue", ["no --database-url given"])
            return
        environment = dict(os.environ, DATABASE_URL=self.database_url, DINGTALK_BASE_URL=self.base_url,
                           DINGTALK_APP_KEY=self.app_key, DINGTALK_APP_SECRET=self.app_secret)
        jobs = "\n".join(json.dumps({"to_corp_ids": g["corps"], "opt_user_id": g["user"], "fields": g["fields"] or []})
                         for g in GRANTS)
        try:
            self.run_ours(["migrate"], environment, timeout=60)
            self.run_ours(["enqueue", "--file", "-", "--format", "jsonl"], environment, stdin=jobs, timeout=60)
        except RuntimeError as error:
            self.expect("requests through the queue", str(error).splitlines())
            return
        seen = len(self.recorded())
        # The SDK's requests for the same grants, to compare against.
        for grant in GRANTS:
            self.sdk_grant(grant, sdk_token)
        sdk_puts = self.recorded()[seen:]
        seen += len(sdk_puts)
        if len(sdk_puts) != len(GRANTS):
            self.expect("requests through the queue", [f"expected {len(GRANTS)} SDK requests, the fake saw {len(sdk_puts)}"])
            return
        try:
            self.run_ours(["run", "--until-empty", "--concurrency", "2"], environment, timeout=120)
        except RuntimeError as error:
            self.expect("requests through the queue", str(error).splitlines())
            return
        worker_puts = [e for e in self.recorded()[seen:] if e["method"] == "PUT"]
        if len(worker_puts) != len(GRANTS):
            self.expect("requests through the queue", [f"expected {len(GRANTS)} worker requests, the fake saw {len(worker_puts)}"])
        for grant, sdk_put in zip(GRANTS, sdk_puts):
            wanted = json.loads(sdk_put["body"])
            match = [e for e in worker_puts if json_or_none(e["body"]) == wanted]
            if not match:
                bodies = "\n         ".join(e["body"] for e in worker_puts)
                self.expect(f"requests through the queue: {grant['name']}",
                            [f"no worker request has the SDK's body {sdk_put['body']}", f"worker bodies:\n         {bodies}"])
                continue
            differences = request_differences(sdk_put, match[0])
            self.expect(f"requests through the queue: {grant['name']}", differences)

    # -- 2. responses --------------------------------------------------------

    def check_responses(self, token):
        grant = GRANTS[0]
        rows = self.fake("GET", "/__fake/error-codes")
        missing = sorted(set(f"{status} {code}" for status, code in ANSWER_TABLE_CLASSES)
                         - set(f"{row['httpStatus']} {row['code']}" for row in rows))
        self.expect("responses: the fake can answer every row of docs/DESIGN.md's Answer table",
                    [f"missing from the fake's table: {row}" for row in missing])
        cases = [{"code": row["code"], "httpStatus": row["httpStatus"], "entry": {"code": row["code"]}} for row in rows]
        cases.append({"code": "conformance.other4xx", "httpStatus": 400,
                      "entry": {"code": "conformance.other4xx", "status": 400, "message": "a code outside the table"}})
        cases.append({"code": "conformance.other5xx", "httpStatus": 503,
                      "entry": {"code": "conformance.other5xx", "status": 503, "message": "a code outside the table"}})
        # A gateway's JSON 429 (issue 27): a throttle, never a terminal failure.
        cases.append({"code": "Throttling", "httpStatus": 429,
                      "entry": {"code": "Throttling", "status": 429, "message": "Request was denied due to flow control."}})
        # A code from the table keeps its class on another status.
        cases.append({"code": "Forbidden.AccessDenied.QpsLimitForApi", "httpStatus": 503,
                      "entry": {"code": "Forbidden.AccessDenied.QpsLimitForApi", "status": 503}})
        for case in cases:
            case["outcomeClass"] = answer_table_class(case["httpStatus"], case["code"])
        for index, case in enumerate(cases):
            request_id = f"CONFORMANCE-{index:04d}"
            # Twice: our client re-sends once after a token error.
            self.script([dict(case["entry"], requestId=request_id, times=2)])
            sdk = sdk_error(lambda: self.sdk_grant(grant, token))
            self.script([dict(case["entry"], requestId=request_id, times=2)])
            ours = self.ours(grant)
            self.script([])
            expected = {"code": case["code"], "status": case["httpStatus"], "requestid": request_id}
            differences = [f"official SDK saw {key} {sdk.get(key)!r}, the fake sent {value!r}"
                           for key, value in expected.items() if sdk.get(key) != value]
            differences += [f"visibility-worker saw {key} {ours.get(ours_key)!r}, the fake sent {expected[key]!r}"
                            for key, ours_key in (("code", "code"), ("status", "httpStatus"), ("requestid", "requestId"))
                            if ours.get(ours_key) != expected[key]]
            if sdk.get("type") not in SDK_ERROR_TYPES:
                differences.append(f"official SDK raised {sdk.get('type')}, not an API error")
            if ours.get("outcome") != case["outcomeClass"]:
                differences.append(f"visibility-worker classed it {ours.get('outcome')!r}, docs/DESIGN.md says {case['outcomeClass']!r}")
            self.expect(f"responses: {case['httpStatus']} {case['code']} -> {case['outcomeClass']}", differences)

        # Answers without DingTalk's JSON: both must fail the call; ours must class them
        # by the status first, and only DingTalk's ban signature as a ban.
        for index, (title, entry, outcome, status, code) in enumerate(GATEWAY_ANSWERS):
            request_id = f"CONFORMANCE-GATEWAY-{index:02d}"
            self.script([dict(entry, requestId=request_id)])
            sdk = sdk_error(lambda: self.sdk_grant(grant, token))
            self.script([dict(entry, requestId=request_id)])
            ours = self.ours(grant)
            self.script([])
            differences = []
            if sdk.get("succeeded"):
                differences.append("official SDK: success, expected a failed call")
            wanted = {"outcome": outcome, "httpStatus": status, "code": code}
            if status is not None:
                wanted["requestId"] = request_id
            differences += [f"visibility-worker saw {key} {ours.get(key)!r}, expected {value!r}"
                            for key, value in wanted.items() if ours.get(key) != value]
            self.expect(f"responses: {title} -> {outcome} (official SDK raised {sdk.get('type')})", differences)

        # The token endpoint failing (issue 27): no grant call is made, so no attempt may be used.
        seen = len(self.recorded())
        self.script([{"endpoint": "token", "fault": "html", "status": 500, "times": 3}])
        sdk = sdk_error(lambda: self.sdk_token())
        ours = self.ours(grant)
        self.script([])
        exchanges = self.recorded()[seen:]
        differences = []
        if sdk.get("succeeded"):
            differences.append("official SDK: got a token from a 500")
        wanted = {"outcome": "transient", "httpStatus": 500, "code": "http.500", "reachedAPI": False}
        differences += [f"visibility-worker saw {key} {ours.get(key)!r}, expected {value!r}"
                        for key, value in wanted.items() if ours.get(key) != value]
        if any(e["method"] == "PUT" for e in exchanges):
            differences.append("a grant call was sent without a token")
        self.expect("responses: the token endpoint answering 500 -> transient, no grant call, no attempt", differences)

        # Success: both read result true, and the same request id the fake sent.
        answer = self.sdk_grant(grant, token)
        sdk_request_id = answer.headers.get("x-acs-request-id")
        fake_sdk_request_id = self.recorded()[-1].get("requestId")
        ours = self.ours(grant)
        fake_our_request_id = self.recorded()[-1].get("requestId")
        differences = []
        if not (answer.status_code == 200 and answer.body.result is True):
            differences.append(f"official SDK: status {answer.status_code}, result {answer.body.result!r}")
        if ours.get("outcome") != "success" or ours.get("httpStatus") != 200:
            differences.append(f"visibility-worker: {ours}")
        if sdk_request_id != fake_sdk_request_id:
            differences.append(f"official SDK request id {sdk_request_id!r}, the fake sent {fake_sdk_request_id!r}")
        if ours.get("requestId") != fake_our_request_id:
            differences.append(f"visibility-worker request id {ours.get('requestId')!r}, the fake sent {fake_our_request_id!r}")
        self.expect("responses: 200 {\"result\": true} -> success", differences)

    # -- 3. a wrong secret ---------------------------------------------------

    def check_wrong_secret(self):
        wrong = "not-the-" + self.app_secret
        seen = len(self.recorded())
        sdk = sdk_error(lambda: self.sdk_token(secret=wrong))
        ours = self.ours(GRANTS[0], secret=wrong)
        exchanges = self.recorded()[seen:]
        posts = [e for e in exchanges if e["path"] == TOKEN_PATH]
        differences = []
        if len(posts) != 2 or any(e["method"] != "POST" for e in exchanges):
            differences.append(f"expected one token request from each client and no grant call, saw {len(exchanges)} requests")
        else:
            differences += request_differences(posts[0], posts[1])
            differences += self.compare([
                ("code", sdk.get("code"), ours.get("code")),
                ("HTTP status", sdk.get("status"), ours.get("httpStatus")),
            ])
            for who, seen_id, sent in (("official SDK", sdk.get("requestid"), posts[0]["requestId"]),
                                       ("visibility-worker", ours.get("requestId"), posts[1]["requestId"])):
                if seen_id != sent:
                    differences.append(f"{who} saw request id {seen_id!r}, the fake sent {sent!r}")
            if sdk.get("code") != "invalidClientIdOrSecret" or sdk.get("status") != 400:
                differences.append(f"the fake did not answer 400 invalidClientIdOrSecret: {sdk}")
            if ours.get("outcome") != "config":
                differences.append(f"visibility-worker classed a wrong secret {ours.get('outcome')!r}, not 'config'")
        self.expect("token: a wrong secret is refused alike (400 invalidClientIdOrSecret, config)", differences)

    # -- 4. over HTTPS, trusting a private CA ----------------------------------

    def check_https(self, tls_base_url, ca_file):
        title = "https: the SDK and visibility-worker send the same token request and grant over TLS with a private CA"
        tls_base_url = tls_base_url.rstrip("/")
        context = ssl.create_default_context(cafile=ca_file)
        # The SDK's HTTP stack (requests) trusts REQUESTS_CA_BUNDLE; nothing else is trusted for this check.
        saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
        os.environ.update(REQUESTS_CA_BUNDLE=ca_file, SSL_CERT_FILE=ca_file)
        differences = []
        try:
            config = openapi_models.Config(protocol="https", endpoint=tls_base_url.split("://", 1)[1])
            seen = len(self.recorded(tls_base_url, context))
            streams = self.fake("GET", "/__fake/stats", base_url=tls_base_url, context=context)["http2_streams"]
            grant = GRANTS[1]
            try:
                token = OAuthClient(config).get_access_token(
                    oauth_models.GetAccessTokenRequest(app_key=self.app_key, app_secret=self.app_secret)).body.access_token
                request = contact_models.OrgAccountMobileVisibleInOtherOrgRequest(
                    to_corp_ids=grant["corps"], opt_user_id=grant["user"], fields=grant["fields"])
                headers = contact_models.OrgAccountMobileVisibleInOtherOrgHeaders(x_acs_dingtalk_access_token=token)
                ContactClient(config).org_account_mobile_visible_in_other_org_with_options(request, headers, util_models.RuntimeOptions())
            except Exception as error:  # a TLS failure shows up here as the SDK's own exception
                differences.append(f"official SDK over https failed: {type(error).__name__}: {error}")
            sdk_streams = self.fake("GET", "/__fake/stats", base_url=tls_base_url, context=context)["http2_streams"] - streams
            ours = self.ours(grant, base_url=tls_base_url, extra_environment={"DINGTALK_CA_FILE": ca_file})
            our_streams = self.fake("GET", "/__fake/stats", base_url=tls_base_url, context=context)["http2_streams"] - streams - sdk_streams
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
        exchanges = self.recorded(tls_base_url, context)[seen:]
        posts = [e for e in exchanges if e["path"] == TOKEN_PATH]
        puts = [e for e in exchanges if e["method"] == "PUT"]
        if len(posts) != 2 or len(puts) != 2:
            differences.append(f"expected a token request and a PUT from each client, saw {len(exchanges)} requests")
        else:
            differences += request_differences(posts[0], posts[1]) + request_differences(puts[0], puts[1])
        if ours.get("outcome") != "success":
            differences.append(f"visibility-worker did not apply it over https: {ours}")
        # /__fake/stats is itself read over HTTP/1.1 here, so only our two requests may be HTTP/2 streams.
        if sdk_streams != 0 or our_streams != 2:
            differences.append(f"HTTP/2 streams: official SDK {sdk_streams} (expected 0, it speaks HTTP/1.1), "
                               f"visibility-worker {our_streams} (expected 2: the token and the grant)")
        self.expect(title, differences)


def sdk_error(call):
    """What the official SDK made of a failed call: code, status, request id from `data`."""
    try:
        call()
    except Exception as error:  # the SDK raises its own exception types; we read their fields
        data = getattr(error, "data", None) or {}
        return {"type": type(error).__name__, "code": getattr(error, "code", None),
                "status": getattr(error, "statusCode", None) or data.get("statusCode"),
                "requestid": data.get("requestid")}
    return {"succeeded": True}


def json_or_none(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def media_type(value):
    parts = [part.strip().lower() for part in (value or "").split(";")]
    charset = next((part.split("=", 1)[1] for part in parts[1:] if part.startswith("charset=")), "utf-8")
    return parts[0], charset


def shorten(value, limit=160):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def body_differences(sdk_body, our_body):
    """Key by key, so a missing `fields` reads as one line."""
    sdk, ours = json_or_none(sdk_body), json_or_none(our_body)
    if not (isinstance(sdk, dict) and isinstance(ours, dict)):
        return [] if sdk == ours else [f"JSON body: official SDK {sdk_body[:160]!r} != visibility-worker {our_body[:160]!r}"]
    lines = []
    for key in sorted(set(sdk) | set(ours)):
        if key not in ours:
            lines.append(f"JSON body: official SDK sends {key!r} = {shorten(sdk[key])}, visibility-worker leaves it out")
        elif key not in sdk:
            lines.append(f"JSON body: visibility-worker sends {key!r} = {shorten(ours[key])}, official SDK leaves it out")
        elif sdk[key] != ours[key]:
            lines.append(f"JSON body {key!r}: official SDK {shorten(sdk[key])} != visibility-worker {shorten(ours[key])}")
    return lines


def request_differences(sdk, ours):
    """Differences that matter between two recorded requests (SDK first)."""
    pairs = [
        ("method", sdk["method"], ours["method"]),
        ("path", sdk["path"], ours["path"]),
        ("content type (media type, charset)", media_type(sdk["headers"].get("content-type")),
         media_type(ours["headers"].get("content-type"))),
    ]
    if sdk["method"] == "PUT":
        pairs.append((TOKEN_HEADER, sdk["headers"].get(TOKEN_HEADER), ours["headers"].get(TOKEN_HEADER)))
    return Checker.compare(pairs) + body_differences(sdk["body"], ours["body"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the fake, started with --record-requests")
    parser.add_argument("--bin", required=True, help="the visibility-worker binary")
    parser.add_argument("--database-url", help="an empty database for the queue path")
    parser.add_argument("--app-key", default="fake-app-key")
    parser.add_argument("--app-secret", default="fake-app-secret")
    parser.add_argument("--tls-base-url", help="a second fake, serving HTTPS with a certificate from --ca-file")
    parser.add_argument("--ca-file", help="the private CA (PEM) that signed the HTTPS fake's certificate")
    args = parser.parse_args()

    print(f"official SDK: alibabacloud-dingtalk {importlib.metadata.version('alibabacloud-dingtalk')}, "
          f"alibabacloud-tea-openapi {importlib.metadata.version('alibabacloud-tea-openapi')}")
    checker = Checker(args)
    token = checker.check_requests()
    checker.check_queue_requests(token)
    checker.check_responses(token)
    checker.check_wrong_secret()
    if args.tls_base_url:
        checker.check_https(args.tls_base_url, args.ca_file)
    print(f"conformance: {checker.checks} checks, {checker.failures} failed")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
