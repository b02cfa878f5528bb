#!/usr/bin/env python3
"""Checks for stage "upgrade" of scripts/chaos and scenario O of scripts/bench.
Standard library only.

  upgrade_check.py probe DIR START END
      Reads the per-transaction log pgbench wrote under DIR (probe.*, from -l
      with -R: client, transaction, latency µs, script, epoch s, µs, lag µs) and
      prints "LONGEST_MS IN_WINDOW TOTAL": the longest latency, schedule lag
      included, of the transactions that were waiting at any moment between
      START and END (Unix seconds), how many those were, and how many the log has.
      With -R a transaction's latency runs from its scheduled start, so a probe
      held up for 3 s logs 3 s even when the hold-up began before its turn.

  upgrade_check.py calls FAKE_URL OUT_DIR APP=KEY:SECRET...
      Reads every request the fake recorded (--record-requests) and tells, for
      each grant call, which app's credentials made it: the fake gives an app key
      the same token while it is valid, so asking for each app's token now names
      the tokens the workers used. A job's app is in its opt_user_id, which the
      stage writes as APP-N (or nonexistent-APP-N for a job the fake refuses).
      Writes OUT_DIR/applied.txt (opt_user_id of each grant answered 200, one a
      line, in order) and prints "CALLS WRONG_APP UNKNOWN_TOKEN"; the first few
      calls with another app's or an unknown token go to stderr.
"""

import glob
import json
import os
import sys
import urllib.request

GRANT_PATH = "/v1.0/contact/orgAccounts/mobiles/visibleInOtherOrg"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
TOKEN_HEADER = "x-acs-dingtalk-access-token"


def probe(directory, start, end):
    longest, in_window, total = 0.0, 0, 0
    for path in glob.glob(os.path.join(directory, "probe.*")):
        with open(path) as log:
            for line in log:
                fields = line.split()
                if len(fields) < 6:
                    continue
                total += 1
                latency = int(fields[2]) / 1e6
                finished = int(fields[4]) + int(fields[5]) / 1e6
                began = finished - latency
                if began <= end and finished >= start:
                    in_window += 1
                    longest = max(longest, latency)
    print(f"{longest * 1000:.0f} {in_window} {total}")


def token_of(fake_url, app_key, secret):
    request = urllib.request.Request(fake_url + TOKEN_PATH, method="POST",
                                     data=json.dumps({"appKey": app_key, "appSecret": secret}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["accessToken"]


def app_of(opt_user_id):
    """APP-N or nonexistent-APP-N -> APP."""
    name = opt_user_id.removeprefix("nonexistent-")
    return name.rsplit("-", 1)[0]


def calls(fake_url, out_dir, specs):
    with urllib.request.urlopen(fake_url + "/__fake/requests", timeout=60) as answer:
        recorded = json.load(answer)
    app_by_token = {}
    for spec in specs:
        app, credentials = spec.split("=", 1)
        key, secret = credentials.split(":", 1)
        app_by_token[token_of(fake_url, key, secret)] = app
    grants, wrong, unknown, shown = 0, 0, 0, 0
    with open(os.path.join(out_dir, "applied.txt"), "w") as applied:
        for request in recorded:
            if request["method"] != "PUT" or request["path"] != GRANT_PATH:
                continue
            grants += 1
            job = json.loads(request["body"])["optUserId"]
            made_by = app_by_token.get(request["headers"].get(TOKEN_HEADER, ""))
            if made_by is None:
                unknown += 1
            elif made_by != app_of(job):
                wrong += 1
            if (made_by is None or made_by != app_of(job)) and shown < 5:
                shown += 1
                print(f"   job {job} (app {app_of(job)}) called with the token of {made_by or 'no known app'}, "
                      f"answered {request.get('status')}", file=sys.stderr)
            if request.get("status") == 200:
                applied.write(job + "\n")
    print(grants, wrong, unknown)


def main(argv):
    if len(argv) == 4 and argv[0] == "probe":
        probe(argv[1], float(argv[2]), float(argv[3]))
    elif len(argv) >= 3 and argv[0] == "calls":
        calls(argv[1].rstrip("/"), argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
