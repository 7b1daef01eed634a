"""The web console in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) against a real server with data. Each page loads,
shows the data the SDK reports, and leaves no error in the browser's console.

When Chromium is missing, the test installs it (``apt-get install -y chromium
chromium-driver``, as root); it skips, saying why, only when that cannot be done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from infogap.client import Client
from infogap.server.assembly import build_server
from infogap.server.transport.server import InfoGapServer

from ..conftest import make_settings
from ..synthetic import two_tastes
from .test_auth import KEYS, auth_settings
from .test_console import EXPERIMENT, SEGMENT, populate

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_COMMAND = ["apt-get", "install", "-y", "chromium", "chromium-driver"]


def _chromium_missing() -> str | None:
    """None when Chromium and its driver are installed (installing them if need be and
    possible), else why they are not."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"Chromium is not installed and cannot be here (run: {' '.join(INSTALL_COMMAND)})"
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    installed = subprocess.run(
        INSTALL_COMMAND, capture_output=True, text=True, env=environment, timeout=900
    )
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    return (
        f"Chromium is not installed, and {' '.join(INSTALL_COMMAND)} failed: "
        f"{installed.stderr.strip()[-300:]}"
    )


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's own path: Selenium Manager never downloads anything.
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfoGapServer, Client]]:
    settings = make_settings(tmp_path_factory.mktemp("console") / "data", http={"port": 0})
    server = build_server(settings).start()
    with Client(server.address, timeout=30) as client:
        populate(client, two_tastes())
        yield server, client
    server.stop(grace=0)


def visit(driver: webdriver.Chrome, url: str) -> None:
    """Opens ``url`` and checks the browser logged no error while loading it."""
    driver.get_log("browser")  # drops what earlier pages left
    driver.get(url)
    assert_no_console_error(driver)


def assert_no_console_error(driver: webdriver.Chrome) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], driver.current_url


def texts(driver: webdriver.Chrome, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_the_overview_shows_the_serving_model_version(driver, console):
    server, client = console
    visit(driver, f"{server.http_url}/console/")
    assert driver.title.startswith("Overview")
    info = client.model_info()
    assert set(texts(driver, ".model-version")) == {model.version for model in info.models}
    history = driver.find_element(By.ID, "catalog-default").text
    assert info.last_decision.candidate_version in history


def test_a_customer_page_shows_segments_and_recommendations(driver, console):
    server, client = console
    visit(driver, f"{server.http_url}/console/customers")
    # The lookup form, as a person uses it.
    field = driver.find_element(By.NAME, "user_id")
    field.send_keys("red-user-3")
    field.submit()
    assert "user_id=red-user-3" in driver.current_url
    assert_no_console_error(driver)
    profile = client.profile("red-user-3")
    assert set(texts(driver, "li.segment a")) == {s.name for s in profile.segments}
    assert SEGMENT in texts(driver, "li.segment a")
    expected = [item.item_id for item in client.recommend("red-user-3", count=10).items]
    assert texts(driver, ".recommended-item") == expected


def test_a_segment_page_shows_its_size(driver, console):
    server, client = console
    visit(driver, f"{server.http_url}/console/segments")
    driver.find_element(By.LINK_TEXT, SEGMENT).click()
    assert_no_console_error(driver)
    size = {s.name: s.size for s in client.list_segments()}[SEGMENT]
    assert driver.find_element(By.ID, "segment-size").text == f"{size:,}"


def test_an_experiment_page_renders_its_plot(driver, console):
    server, _ = console
    visit(driver, f"{server.http_url}/console/experiments")
    driver.find_element(By.LINK_TEXT, EXPERIMENT).click()
    assert_no_console_error(driver)
    plot = driver.find_element(By.CSS_SELECTOR, "svg.interval-plot")
    assert plot.size["width"] > 300 and plot.size["height"] > 50  # laid out, not just parsed
    assert len(plot.find_elements(By.TAG_NAME, "circle")) == 2  # one per variant


def test_every_page_loads_without_a_console_error(driver, console):
    server, _ = console
    for path in (
        "/",
        "/customers?user_id=blue-user-1",
        "/segments",
        f"/segments/{SEGMENT}?page_size=5",
        "/experiments",
        f"/experiments/{EXPERIMENT}",
        "/evaluations",
    ):
        visit(driver, f"{server.http_url}/console{path}")
        assert "InfoGap console" in driver.title, path


def test_an_unknown_customer_gets_a_readable_page(driver, console):
    server, _ = console
    # Not ``visit``: Chromium logs the 404 status of the page itself as an error.
    driver.get(f"{server.http_url}/console/customers?user_id=nobody")
    assert "nobody" in driver.find_element(By.CLASS_NAME, "error-message").text


def test_with_keys_the_browser_gets_in_with_basic_credentials(driver, tmp_path):
    settings = make_settings(tmp_path / "data", http={"port": 0}, auth=auth_settings())
    with build_server(settings) as server:
        host_and_port = server.http_url.removeprefix("http://")
        visit(driver, f"http://console:{KEYS['admin']}@{host_and_port}/console/")
        assert driver.title.startswith("Overview")
