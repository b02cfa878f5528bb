#!/usr/bin/env python3
"""Writes N grant jobs as JSON Lines, as CSV for `enqueue --file`, or as CSV for
psql's \\copy straight into visibility_grant_jobs: the same rows each time
(two corp ids, both fields, an idempotency key per line). With --keys K each
line also has an ordering key: K distinct keys in turn, or one key per line
with --keys 0.

    make_jobs_file.py jsonl|csv|pgcsv N PATH [--bad-last-line] [--keys K]
"""
import sys


def main():
    kind, count, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    options = sys.argv[4:]
    bad_last = "--bad-last-line" in options
    keys = int(options[options.index("--keys") + 1]) if "--keys" in options else None
    with open(path, "w", buffering=1 << 20) as out:
        if kind == "csv":
            out.write("to_corp_ids,opt_user_id,fields,idempotency_key\n")
        for i in range(1, count + 1):
            a, b = "ding%032x" % i, "ding%032x" % (i + 7)
            user = "0%017d" % i
            key = None if keys is None else "key-%d" % (i if keys == 0 else i % keys)
            if kind == "jsonl":
                keyed = ',"ordering_key":"%s"' % key if key else ""
                out.write('{"to_corp_ids":["%s","%s"],"opt_user_id":"%s","fields":["mobile","status"],"idempotency_key":"k-%d"%s}\n'
                          % (a, b, user, i, keyed))
            elif kind == "csv":
                out.write("%s|%s,%s,mobile|status,k-%d\n" % (a, b, user, i))
            else:
                out.write('"{%s,%s}",%s,"{mobile,status}",k-%d%s\n' % (a, b, user, i, "," + key if key else ""))
        if bad_last:
            if kind == "jsonl":
                out.write('{"to_corp_ids":[],"opt_user_id":"bad"}\n')
            else:
                out.write(",bad,,\n")


if __name__ == "__main__":
    main()
