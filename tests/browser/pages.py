#!/usr/bin/env python3
"""Drives the reviewer desk and the operator console in headless Chromium through
WebDriver (Debian's chromium and chromium-driver, Python selenium), as tests/it/pages.rs
asks: it starts the daemon and seeds it, this script acts as the reviewer and the
operator, and prints one JSON object of what it saw; the Rust test checks the outcome
through the API.

Why Python selenium: its client reads Chromium's console log (chromedriver's log
endpoint), which the Rust WebDriver clients do not expose, and it needs no build.

Environment: EDL_PUBLIC (https://localhost:PORT), EDL_ADMIN (http://127.0.0.1:PORT),
EDL_REVIEWER_KEY, EDL_OPERATOR_KEY, EDL_REJECT (the ticket to reject; the other one is
approved), EDL_SHOTS (a directory for screenshots). Exits non-zero on the first failed
check, with the reason on standard error.
"""

import json
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.action_chains import ActionChains

PUBLIC = os.environ["EDL_PUBLIC"]
ADMIN = os.environ["EDL_ADMIN"]
REVIEWER_KEY = os.environ["EDL_REVIEWER_KEY"]
OPERATOR_KEY = os.environ["EDL_OPERATOR_KEY"]
REJECT = os.environ["EDL_REJECT"]
SHOTS = os.environ["EDL_SHOTS"]
AXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "axe.min.js")
NEW_DRAIN_RATE = 37
# The test daemon's certificate is self-signed for localhost.
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE

report = {}


def fail(message):
    print(f"browser test failed: {message}", file=sys.stderr)
    print(json.dumps(report, indent=1), file=sys.stderr)
    sys.exit(1)


def wait_for(what, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def http(method, url, headers=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, context=INSECURE, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--ignore-certificate-errors", "--window-size=1400,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='edl-chromium-')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))


def console_errors(driver, page):
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    report[f"{page}_console_errors"] = errors
    if errors:
        fail(f"JavaScript console errors on the {page}: {errors}")


def axe(driver, page):
    with open(AXE, encoding="utf-8") as f:
        driver.execute_script(f.read())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.length})))).catch((e) => done([{id: 'axe-error', impact: 'critical', nodes: String(e)}]));")
    report[f"{page}_axe"] = result
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    if bad:
        fail(f"axe-core finds serious or critical violations on the {page}: {bad}")


def sign_in(driver, url, key):
    driver.get(url)
    field = wait_for("the sign-in form", lambda: next(
        (e for e in driver.find_elements(By.ID, "api-key") if e.is_displayed()), None))
    field.send_keys(key)
    field.send_keys(Keys.ENTER)


def review(driver):
    sign_in(driver, f"{PUBLIC}/review/", REVIEWER_KEY)
    wait_for("two waiting uploads", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#queue li")) == 2)
    wait_for("the findings", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#findings tr")) >= 10)
    wait_for("the photo", lambda: driver.execute_script(
        "const i = document.getElementById('photo'); return i.complete && i.naturalWidth > 0;"))
    cookie = driver.get_cookie("edl_review")
    report["review_cookie"] = {k: cookie.get(k) for k in ("httpOnly", "sameSite", "secure", "path", "expiry")}
    if not (cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"] and cookie.get("expiry")):
        fail(f"review session cookie flags: {cookie}")
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('#findings tr')).map((r) => [r.dataset.code, r.cells[1].className]);")
    report["review_findings_shown"] = shown
    driver.save_screenshot(os.path.join(SHOTS, "review-desk.png"))
    axe(driver, "review desk")

    # The current upload is the oldest: the one to reject. By keyboard: R, 3 (a reason of
    # the authority's list), Enter.
    current = driver.find_element(By.CSS_SELECTOR, "#queue button[aria-current='true']")
    if current.get_attribute("data-ticket") != REJECT:
        fail("the oldest upload is not shown first")
    driver.find_element(By.TAG_NAME, "body").click()
    ActionChains(driver).send_keys("r").perform()
    ActionChains(driver).send_keys("3").perform()
    chosen = driver.execute_script("return document.getElementById('reason').value;")
    report["reject_reason_key"] = chosen
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_for("the next upload", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#queue li")) == 1)
    report["rejected_reason_text"] = driver.execute_script("return window.EDL_I18N.t('r3');")
    # The next photo is there at once; approve it with A.
    driver.find_element(By.TAG_NAME, "body").click()
    ActionChains(driver).send_keys("a").perform()
    wait_for("an empty queue", lambda: driver.find_element(By.ID, "empty").is_displayed())
    # Chinese and back.
    driver.find_element(By.ID, "lang").click()
    report["review_title_zh"] = driver.find_element(By.TAG_NAME, "h1").text
    report["review_lang_zh"] = driver.execute_script("return document.documentElement.lang;")
    if report["review_title_zh"] != "照片审核台" or report["review_lang_zh"] != "zh-CN":
        fail("the desk does not switch to Chinese")
    driver.find_element(By.ID, "lang").click()

    # A cross-site POST with the session cookie is refused: without the CSRF token, and
    # with it from another origin.
    headers = {"Cookie": f"edl_review={cookie['value']}"}
    status, _ = http("POST", f"{PUBLIC}/v1/applications/{REJECT}/approve", headers)
    report["forged_without_token"] = status
    csrf = driver.execute_script(
        "return fetch('/v1/sessions/current').then((r) => r.json()).then((s) => s.csrf_token);")
    status, _ = http("POST", f"{PUBLIC}/v1/applications/{REJECT}/approve",
                     dict(headers, **{"X-CSRF-Token": csrf, "Origin": "https://evil.example",
                                      "Sec-Fetch-Site": "cross-site"}))
    report["forged_cross_site"] = status
    status, _ = http("POST", f"{PUBLIC}/v1/applications/{REJECT}/approve", dict(headers, **{"X-CSRF-Token": csrf}))
    report["with_token_same_origin"] = status
    if report["forged_without_token"] != 403 or report["forged_cross_site"] != 403:
        fail("a cross-site POST with the session cookie was not refused with 403")
    if report["with_token_same_origin"] != 409:
        fail("the same request with the CSRF token should reach the handler (409: decided already)")
    console_errors(driver, "review desk")


def console(driver):
    sign_in(driver, f"{ADMIN}/console/", OPERATOR_KEY)
    field = wait_for("the drain rate knob", lambda: next(
        (e for e in driver.find_elements(By.ID, "knob-drain-rate") if e.is_displayed()), None))
    cookie = driver.get_cookie("edl_console")
    report["console_cookie"] = {k: cookie.get(k) for k in ("httpOnly", "sameSite", "secure", "path", "expiry")}
    if not (cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie.get("expiry")):
        fail(f"console session cookie flags: {cookie}")
    wait_for("chart points", lambda: driver.execute_script(
        "const c = window.EDL_CHARTS.charts['chart-drain']; return c && c.data[0].length >= 2;"))
    field.clear()
    field.send_keys(str(NEW_DRAIN_RATE))
    driver.find_element(By.ID, "preview").click()
    wait_for("the what-if", lambda: driver.find_element(By.ID, "whatif-summary").text != "")
    report["what_if"] = driver.find_element(By.ID, "whatif-summary").text
    report["what_if_arrivals"] = driver.execute_script(
        "return fetch('/admin/v1/throttle/simulate', {method: 'POST', headers: {'Content-Type': 'application/json',"
        " 'X-CSRF-Token': arguments[0]}, body: '{}'}).then((r) => r.json()).then((w) => w.arrivals);",
        driver.execute_script(
            "return fetch('/admin/v1/sessions/current').then((r) => r.json()).then((s) => s.csrf_token);"))
    driver.find_element(By.ID, "apply").click()
    clicked = time.monotonic()
    bearer = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    while True:
        status, body = http("GET", f"{ADMIN}/admin/v1/throttle", bearer)
        if status == 200 and float(body["values"]["drain.rate"]) == NEW_DRAIN_RATE:
            break
        if time.monotonic() - clicked > 1.0:
            fail(f"the admin API does not show drain.rate {NEW_DRAIN_RATE} within 1 s: {body}")
        time.sleep(0.02)
    report["admin_api_seconds"] = round(time.monotonic() - clicked, 3)
    wait_for("the chart's new target", lambda: driver.execute_script(
        "const d = window.EDL_CHARTS.charts['chart-drain'].data[1]; return d[d.length - 1];") == NEW_DRAIN_RATE)
    report["chart_target"] = NEW_DRAIN_RATE
    wait_for("the change in the audit trail",
             lambda: "drain.rate" in driver.find_element(By.ID, "changes").text)
    report["changes"] = driver.find_element(By.ID, "changes").text
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(os.path.join(SHOTS, "operator-console.png"))
    axe(driver, "operator console")
    console_errors(driver, "operator console")


def main():
    driver = browser()
    try:
        review(driver)
        console(driver)
    finally:
        driver.quit()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
