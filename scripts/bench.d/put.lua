-- wrk: the same PUT the worker sends, straight to the fake API (the HTTP ceiling of scenario A).
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-acs-dingtalk-access-token"] = "bench-token"
wrk.body = '{"toCorpIds":["ding12345"],"optUserId":"bench-user"}'
