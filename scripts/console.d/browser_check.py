"""The operator console in headless Chromium (run by scripts/console-check).

Each check prints "ok: ..." or raises; the script exits non-zero on the first
failure. SQL goes through psql on $DATABASE_URL, so the counts compared are the
database's own.
"""
import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

STATES = ["pending", "running", "succeeded", "failed", "cancelled"]
SCRIPT_GRANT = '<script>document.title="pwned"</script>'


def sql(statement):
    out = subprocess.run(["psql", "-qAt", os.environ["DATABASE_URL"], "-c", statement],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def count(statement):
    return int(sql(statement))


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok: " + what, flush=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def raw_request(url, method="GET", headers=None, body=None):
    """(status, headers, body) without following redirects."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--read-only-url", required=True)
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    base, token = args.url, os.environ["CONSOLE_TOKEN"]
    host = base.split("//", 1)[1]

    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1300",
                 "--disable-gpu", "--force-device-scale-factor=1"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    service = Service(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    # Pages change under a wait while the browser navigates: look again rather than fail.
    wait = WebDriverWait(driver, 15, ignored_exceptions=[StaleElementReferenceException, NoSuchElementException])
    shot = lambda name: driver.save_screenshot(os.path.join(args.screenshots, name + ".png"))
    try:
        # 1. Log in: a wrong token is refused, the right one buys an HttpOnly, SameSite=Strict cookie.
        driver.get(base + "/")
        check(driver.current_url.endswith("/login"), "without a session the overview redirects to /login")
        driver.find_element(By.ID, "token").send_keys("not-the-token-at-all")
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        error = wait.until(lambda d: d.find_elements(By.CLASS_NAME, "error"))
        check("not right" in error[0].text, "a wrong token is refused")
        shot("login")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        wait.until(lambda d: d.find_elements(By.ID, "count-pending"))
        cookie = driver.get_cookie("visibility_console_session")
        check(cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Strict",
              "the session cookie is HttpOnly and SameSite=Strict")
        check(token not in cookie["value"], "the cookie is not the token")

        # 2. The overview's counts are the database's.
        for state in STATES:
            shown = int(driver.find_element(By.ID, "count-" + state).get_attribute("data-count"))
            expected = count(f"SELECT count(*) FROM visibility_grant_jobs WHERE state = '{state}'")
            check(shown == expected, f"overview {state} = {shown}, SQL says {expected}")
        check(not driver.find_elements(By.CSS_SELECTOR, "[data-estimated]"), "on a small queue every count is exact")
        check(len(driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")) > 0, "the activity chart has bars")
        check("grants-1.internal" in driver.page_source, "live workers are listed")
        shot("overview")

        # Live: a new job shows without a reload (server-sent events).
        before = int(driver.find_element(By.ID, "count-pending").get_attribute("data-count"))
        sql("INSERT INTO visibility_grant_jobs (to_corp_ids, opt_user_id) VALUES (ARRAY['ding-live'], 'user-live')")
        wait.until(lambda d: int(d.find_element(By.ID, "count-pending").get_attribute("data-count")) == before + 1)
        check(True, "a new job appears on the open overview without a reload")
        driver.save_screenshot(os.path.join(args.screenshots, "overview.png"))

        # 3. Filter to a failed job, open it, see its attempts, retry it.
        job_id = count("SELECT max(id) FROM visibility_grant_jobs WHERE state = 'failed' AND last_error_code = 'invalid.param'"
                       " AND opt_user_id LIKE 'user-f%'")
        driver.get(base + "/jobs")
        Select(driver.find_element(By.NAME, "state")).select_by_value("failed")
        driver.find_element(By.NAME, "code").send_keys("invalid.param")
        driver.find_element(By.CSS_SELECTOR, "form.filter button").click()
        wait.until(lambda d: "state=failed" in d.current_url)
        listed = [int(a.text) for a in driver.find_elements(By.CSS_SELECTOR, "table.jobs td.num a")]
        expected = [int(i) for i in sql("SELECT id FROM visibility_grant_jobs WHERE state = 'failed'"
                                        " AND last_error_code = 'invalid.param' ORDER BY id DESC LIMIT 50").split()]
        check(listed == expected, f"the filtered list is the failed invalid.param jobs, newest first ({len(listed)})")
        shot("jobs")
        driver.find_element(By.LINK_TEXT, str(job_id)).click()
        wait.until(lambda d: d.find_elements(By.ID, "attempts"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
        check(len(rows) == count(f"SELECT count(*) FROM visibility_grant_attempts WHERE job_id = {job_id}"),
              f"job {job_id} shows all {len(rows)} attempts")
        check("req-%d-1" % job_id in driver.page_source, "attempts show their request ids")
        shot("job")
        driver.find_element(By.ID, "retry-job").click()
        alert = wait.until(lambda d: d.switch_to.alert)
        check("1 job" in alert.text, "retry asks for confirmation naming the count")
        alert.accept()
        wait.until(lambda d: d.find_element(By.ID, "job-state").text == "pending")
        check(sql(f"SELECT state FROM visibility_grant_jobs WHERE id = {job_id}") == "pending",
              f"job {job_id} is pending in the database")

        # 4. Cancel by filter: every pending job with ordering key hr-batch-7.
        pending_in_batch = count("SELECT count(*) FROM visibility_grant_jobs WHERE ordering_key = 'hr-batch-7' AND state = 'pending'")
        driver.get(base + "/jobs?okey=hr-batch-7")
        driver.find_element(By.PARTIAL_LINK_TEXT, "Cancel the pending ones").click()
        heading = wait.until(lambda d: d.find_element(By.TAG_NAME, "h1")).text
        check(heading == f"Cancel {pending_in_batch} pending jobs?", f"the confirmation names the count: {heading!r}")
        shot("confirm")
        driver.find_element(By.ID, "confirm-action").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("Cancelled"))
        check(count("SELECT count(*) FROM visibility_grant_jobs WHERE ordering_key = 'hr-batch-7' AND state = 'cancelled'")
              == pending_in_batch, f"{pending_in_batch} jobs are cancelled in the database")

        # 5. Security.
        session = cookie["value"]
        cookie_header = {"Cookie": "visibility_console_session=" + session}
        victim = count("SELECT min(id) FROM visibility_grant_jobs WHERE state = 'pending'")
        for name, headers in [("an Origin of another site", {"Origin": "http://evil.example"}),
                              ("Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site", "Origin": "http://" + host}),
                              ("neither Origin nor Sec-Fetch-Site", {})]:
            status, _, _ = raw_request(f"{base}/jobs/{victim}/cancel", "POST", {**cookie_header, **headers}, b"")
            check(status == 403, f"a POST with the cookie but {name} is refused ({status})")
        check(sql(f"SELECT state FROM visibility_grant_jobs WHERE id = {victim}") == "pending", "and changed nothing")
        status, headers, _ = raw_request(f"{base}/jobs/{victim}/cancel", "POST", {"Origin": "http://" + host}, b"")
        check(status == 401, f"a same-origin POST without the cookie is refused ({status})")
        for path in ["/", "/jobs", f"/jobs/{victim}", "/overview", "/events", "/jobs/confirm?action=cancel&state=pending"]:
            status, headers, _ = raw_request(base + path)
            check(status in (401, 303) and (status == 401 or headers["Location"] == "/login"),
                  f"GET {path} without the cookie answers {status} to /login")
        status, headers, body = raw_request(base + "/jobs", headers=cookie_header)
        csp = headers.get("Content-Security-Policy", "")
        check("script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp, "a strict Content-Security-Policy")
        check(token not in body, "no page carries the token")

        grant_id = count("SELECT id FROM visibility_grant_jobs WHERE opt_user_id LIKE '<script>%'")
        driver.get(f"{base}/jobs/{grant_id}")
        wait.until(lambda d: d.find_elements(By.ID, "opt-user-id"))
        check(driver.find_element(By.ID, "opt-user-id").text == SCRIPT_GRANT, "the <script> grant shows as text")
        check(driver.title != "pwned" and not driver.find_elements(By.ID, "injected")
              and not driver.find_elements(By.ID, "injected-message"), "and its markup is inert")
        driver.get(f"{base}/jobs?state=failed&code=invalid.param")
        check(driver.title != "pwned" and SCRIPT_GRANT in driver.find_element(By.TAG_NAME, "main").text,
              "inert in the job list too")
        try:
            driver.switch_to.alert
            raise AssertionError("an alert opened")
        except NoAlertPresentException:
            pass

        # --read-only: no buttons, and the POSTs are refused.
        driver.get(args.read_only_url + "/login")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        wait.until(lambda d: d.find_elements(By.ID, "count-pending"))
        failed_id = count("SELECT min(id) FROM visibility_grant_jobs WHERE state = 'failed'")
        driver.get(f"{args.read_only_url}/jobs/{failed_id}")
        check(not driver.find_elements(By.ID, "retry-job"), "--read-only shows no retry button")
        ro_cookie = {"Cookie": "visibility_console_session=" + driver.get_cookie("visibility_console_session")["value"]}
        ro_host = args.read_only_url.split("//", 1)[1]
        status, _, _ = raw_request(f"{args.read_only_url}/jobs/{failed_id}/retry", "POST",
                                   {**ro_cookie, "Origin": "http://" + ro_host}, b"")
        check(status == 403 and sql(f"SELECT state FROM visibility_grant_jobs WHERE id = {failed_id}") == "failed",
              f"--read-only refuses a retry ({status})")
    finally:
        driver.quit()
    print("console browser checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print("FAIL: " + str(error), flush=True)
        sys.exit(1)
