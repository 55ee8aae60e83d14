"""The environment's proxies and CA bundle, as requests reads them, worked out once per
host and value of the variables (``client.environment_settings``)."""

from __future__ import annotations

import requests

from django_euler_oauth.client import environment_settings, get_session

URL = "https://tiktok.eulerstream.com/tiktok/oauth/token"


def _requests_own(url: str) -> dict:
    with requests.Session() as session:
        return dict(session.merge_environment_settings(url, {}, None, None, None))


def test_the_same_as_requests_and_a_change_is_seen(monkeypatch, tmp_path):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                 "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert environment_settings(URL) == _requests_own(URL)
    assert environment_settings(URL)["proxies"] == {}
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    got = environment_settings(URL)
    assert got == _requests_own(URL)
    assert got["proxies"]["https"] == "http://127.0.0.1:3128" and got["verify"] == str(bundle)
    monkeypatch.setenv("NO_PROXY", "tiktok.eulerstream.com")
    assert environment_settings(URL) == _requests_own(URL)
    assert "https" not in environment_settings(URL)["proxies"]
    assert environment_settings("https://other.example/x")["proxies"]["https"] == \
        "http://127.0.0.1:3128"


def test_the_session_itself_reads_no_environment():
    # No .netrc credentials, no second walk of the environment per call.
    assert get_session().trust_env is False
