"""Helpers for the console's end-to-end test: the real server in a subprocess, real headless Chromium.

`serve_console` starts `rekindle serve` (the real CLI, real uvicorn) on a free loopback port;
`Server.wait_until_up` waits until it answers (start the browser in between: both take seconds). `chromium` starts Debian's chromium through Debian's chromium-driver with
Selenium — never a downloaded browser or driver (SE_OFFLINE stops Selenium Manager from
fetching one). Both must be installed (`make test` installs them with apt-get); if they are
not, the test FAILS with a message saying how to install them.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A started `rekindle serve` process: its base URL, and a wait for it to answer."""

    def __init__(self, process: subprocess.Popen, base: str, log_path: Path):
        self.process, self.base, self.log_path = process, base, log_path

    def wait_until_up(self, timeout: float = 180.0) -> str:  # generous: CI machines may be busy
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"`rekindle serve` exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.base + "/login", timeout=2) as answer:
                    if answer.status == 200:
                        return self.base
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`rekindle serve` did not answer within {timeout} s:\n{self.log_path.read_text()}")
            time.sleep(0.2)


@contextmanager
def serve_console(db_url: str, env: dict, log_path: Path):
    """`rekindle serve --port N --db URL` in a subprocess (started, not yet waited for); stopped afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db_url]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield Server(process, f"http://127.0.0.1:{port}", log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def require_chromium() -> None:
    """Fail (not skip) with the install command when the browser or its driver is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail("the console's browser test needs Debian's chromium and chromium-driver; missing "
                    f"{', '.join(missing)}. Install them: apt-get update && apt-get install -y chromium "
                    "chromium-driver fonts-noto-cjk (make test does this when run as root)", pytrace=False)


@contextmanager
def chromium():
    """A headless Chromium driven by Selenium, with a fresh empty profile."""
    require_chromium()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="rekindle-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(90)
    # A click that submits a form returns before the next page is there; on a busy machine the
    # next find_element would search the old page. Elements are polled for up to 20 s instead.
    driver.implicitly_wait(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver, path: Path) -> Path:
    """A PNG of the whole page (not just the window), via the DevTools protocol."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
