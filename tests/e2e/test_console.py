"""The web console over plain HTTP against a real server with data: each page shows what the
SDK reports, bad input gets a readable 400 or 404 page, and keys guard it (401, 403, Basic)."""

from __future__ import annotations

import base64
import re

import pytest

from infogap.client import Client

from ..conftest import load
from ..http_calls import call
from .test_auth import KEYS, auth_settings
from .test_experiments import simulate

EXPERIMENT = "console-trial"
SEGMENT = "red-buyers"


def populate(client: Client, tastes) -> None:
    """The two-tastes data trained, a rule segment, and a running experiment with traffic."""
    load(client, tastes)
    client.train()
    client.define_segment(SEGMENT, 'attribute.segment = "red" AND count.purchase >= 1')
    client.create_experiment(
        EXPERIMENT,
        [
            {"name": "control", "share": 0.5},
            {"name": "popular", "share": 0.5, "strategies": ["popularity"]},
        ],
    )
    client.start_experiment(EXPERIMENT)
    simulate(client, EXPERIMENT, users=40, seed=5)


def page(url: str, **kwargs) -> tuple[int, str]:
    status, body = call(url, **kwargs)
    assert isinstance(body, str), body  # HTML, never JSON
    return status, body


def texts(html: str, css_class: str) -> list[str]:
    """The text of every element of ``css_class`` (the pages mark their data with classes)."""
    return re.findall(rf'class="{css_class}">([^<]*)<', html)


@pytest.fixture
def console(start_server, tastes):
    server = start_server(http={"port": 0})
    with Client(server.address) as client:
        populate(client, tastes)
        yield server, client


def test_the_pages_show_what_the_sdk_reports(console):
    server, client = console
    url = f"{server.http_url}/console"

    status, overview = page(f"{url}/")
    assert status == 200
    versions = {model.version for model in client.model_info().models}
    assert set(texts(overview, "model-version")) == versions
    assert client.model_info().last_decision.candidate_version in overview
    assert re.search(r'id="events-total">[\d,]+ events stored', overview)

    user = "red-user-3"
    status, customer = page(f"{url}/customers?user_id={user}&count=5")
    assert status == 200
    profile = client.profile(user)
    assert set(re.findall(r'<li class="segment"><a [^>]*>([^<]+)</a>', customer)) == {
        s.name for s in profile.segments
    }
    assert SEGMENT in {s.name for s in profile.segments}
    shown = texts(customer, "recommended-item")
    assert len(shown) == 5
    assert all(item.startswith("red-") for item in shown[:3])  # the red taste comes first

    status, listing = page(f"{url}/segments")
    assert status == 200
    sizes = {s.name: s.size for s in client.list_segments()}
    assert texts(listing, "segment-size") == [f"{size:,}" for size in sizes.values()]
    status, members = page(f"{url}/segments/{SEGMENT}?page_size=7")
    assert status == 200
    assert re.search(rf'id="segment-size">{sizes[SEGMENT]}<', members)
    assert members.count('href="/console/customers?user_id=') == 7
    assert "Next page" in members

    status, experiments = page(f"{url}/experiments")
    assert (status, EXPERIMENT in experiments) == (200, True)
    status, report = page(f"{url}/experiments/{EXPERIMENT}")
    assert status == 200
    assert report.count("<svg") == 1 and report.count("<circle") == 2  # one dot per variant
    assert client.experiment_report(EXPERIMENT).conclusion in report.replace("&#x27;", "'")


def test_looking_at_a_customer_is_not_an_exposure(console):
    server, client = console
    visitor = f"{EXPERIMENT}-visitor-0"
    before = client.experiment_report(EXPERIMENT)
    for _ in range(3):
        assert page(f"{server.http_url}/console/customers?user_id={visitor}")[0] == 200
    after = client.experiment_report(EXPERIMENT)
    assert [v.recommendations for v in after.variants] == [
        v.recommendations for v in before.variants
    ]


def test_bad_input_gets_a_readable_page_with_its_status(start_server):
    server = start_server(http={"port": 0})
    url = f"{server.http_url}/console"
    status, unknown = page(f"{url}/customers?user_id=nobody")
    assert status == 404
    assert "nobody" in unknown and "Traceback" not in unknown
    assert page(f"{url}/customers?user_id=x&count=lots")[0] == 400
    assert page(f"{url}/customers?user_id=x&count=0")[0] == 400
    assert page(f"{url}/customers?user_id=" + "x" * 300)[0] == 400
    assert page(f"{url}/segments/no-such-segment")[0] == 404
    assert page(f"{url}/segments/x?page=not-a-token")[0] == 404  # the segment is checked first
    assert page(f"{url}/experiments/no-such-experiment")[0] == 404
    assert page(f"{url}/evaluations/1")[0] == 404
    assert page(f"{url}/no-such-page")[0] == 404
    assert page(f"{url}/", method="POST", body={})[0] == 405
    # An empty server still renders every page.
    for path in ("/", "/customers", "/segments", "/experiments", "/evaluations"):
        assert page(url + path)[0] == 200, path


def test_a_bad_page_token_is_a_400(console):
    server, _ = console
    status, body = page(f"{server.http_url}/console/segments/{SEGMENT}?page=not-a-token")
    assert status == 400 and "page_token" in body


def test_the_console_needs_the_admin_scope_when_keys_are_on(start_server):
    server = start_server(http={"port": 0}, auth=auth_settings())
    url = f"{server.http_url}/console/"
    status, body = page(url)
    assert status == 401
    assert "Traceback" not in body
    status, _ = page(url, headers={"Authorization": f"Bearer {KEYS['read']}"})
    assert status == 403
    basic = base64.b64encode(f"console:{KEYS['admin']}".encode()).decode()
    assert page(url, headers={"Authorization": f"Basic {basic}"})[0] == 200
    assert page(url, headers={"Authorization": f"Bearer {KEYS['admin']}"})[0] == 200


def test_console_without_its_slash_redirects(start_server):
    import urllib.request

    server = start_server(http={"port": 0})
    with urllib.request.urlopen(f"{server.http_url}/console", timeout=30) as response:
        assert (response.status, response.url) == (200, f"{server.http_url}/console/")


def test_an_evaluation_run_through_the_server_is_shown_with_its_report(start_server, tastes):
    server = start_server(http={"port": 0})
    with Client(server.address) as client:
        load(client, tastes)
        client.evaluate_models(candidates=["popularity"], k=5, max_users=20, seed=3)
    status, listing = page(f"{server.http_url}/console/evaluations")
    assert status == 200
    assert "Evaluation 1 of catalog default" in listing
    assert 'href="/console/evaluations/1"' in listing
    status, report = page(f"{server.http_url}/console/evaluations/1")
    assert status == 200 and report.lstrip().lower().startswith("<!doctype html")


def test_a_refusal_asks_the_browser_for_basic_credentials(start_server):
    import urllib.error
    import urllib.request

    server = start_server(http={"port": 0}, auth=auth_settings())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.http_url}/console/", timeout=30)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith('Basic realm="InfoGap console"')
