"""Provider calls honour the environment as ``requests`` does: CA bundles and proxies.

What ``requests`` would read (proxies, ``NO_PROXY``, the CA bundle) is worked out once
per host and value of the variables (``client.environment_settings``), and the session
itself reads nothing more (``trust_env`` off). A loopback HTTPS server with a
certificate from a CA made in the test (:mod:`tests.support.pki`, ``cryptography``) is
refused until ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) names that CA;
``HTTP_PROXY``/``HTTPS_PROXY`` send the calls through a small loopback proxy the test
runs (a plain forward proxy, and a ``CONNECT`` tunnel for HTTPS), and ``NO_PROXY`` keeps
them direct. The variables are read on each call: nothing is configured in the library.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from django_euler_oauth.client import ProviderClient, environment_settings, get_session
from django_euler_oauth.errors import TransportError

from .support.pki import Pki
from .support.raw_server import WAIT, Link, answer, keep_alive, numbered, token_json

TOKEN = "/tiktok/oauth/token"
URL = "https://tiktok.eulerstream.com/tiktok/oauth/token"

pytestmark = pytest.mark.usefixtures("fresh_provider_session")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


# --- what is read from the environment, and when ------------------------------------

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


# --- CA bundles ---------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_https_is_verified_against_the_ca_bundle_setting(raw_server, oauth, pki, monkeypatch,
                                                         variable):
    server = raw_server(keep_alive(numbered), tls=pki.ip_context)
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    with pytest.raises(TransportError, match="failed: SSLError"):  # certifi's CAs only
        client.refresh("refresh-0")
    server.wait_ended()
    assert server.requests == []  # the refresh token never left the client
    monkeypatch.setenv(variable, str(pki.ca_file))
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-1").access_token == "access-2"
    assert len(server.requests) == 2 and server.accepted == 2  # one refused, one kept alive


def test_a_certificate_for_another_name_is_refused(raw_server, oauth, pki, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    server = raw_server(keep_alive(numbered), tls=pki.name_context)  # localhost only
    oauth.token_url = server.url + TOKEN
    with pytest.raises(TransportError, match="failed: SSLError"):
        ProviderClient(oauth).refresh("refresh-0")
    server.wait_ended()
    assert server.requests == []


def test_a_ca_bundle_that_is_not_a_certificate_is_a_transport_error(raw_server, oauth, pki,
                                                                    monkeypatch, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(junk))
    server = raw_server(keep_alive(numbered), tls=pki.ip_context)
    oauth.token_url = server.url + TOKEN
    with pytest.raises(TransportError, match="failed: SSLError"):
        ProviderClient(oauth).refresh("refresh-0")
    assert server.requests == []


# --- proxies ------------------------------------------------------------------------------

def forward_proxy(link: Link) -> None:
    """A plain HTTP proxy that answers for the origin itself (the test reads its log)."""
    for _ in range(10):
        request = link.request()
        if request is None:
            return
        link.send(answer(token_json("access-via-proxy")))


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    source.settimeout(WAIT)
    try:
        for _ in range(10_000):  # bounded: a few TLS records each way in these tests
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def tunnel_proxy(link: Link) -> None:
    """``CONNECT host:port``: a TCP tunnel to the origin, bytes copied both ways."""
    request = link.request()
    if request is None or not request.startswith(b"CONNECT "):
        return
    host, _, port = request.split(b" ")[1].decode().rpartition(":")
    with socket.create_connection((host, int(port)), timeout=WAIT) as origin:
        link.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        back = threading.Thread(target=_pipe, args=(origin, link.sock), daemon=True)
        back.start()
        _pipe(link.sock, origin)
        back.join(WAIT)


def test_http_proxy_from_the_environment_carries_the_call(raw_server, oauth, monkeypatch):
    origin = raw_server(keep_alive(numbered))
    proxy = raw_server(forward_proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    oauth.token_url = origin.url + TOKEN
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-via-proxy"
    [request] = proxy.requests
    assert request.startswith(f"POST {origin.url}{TOKEN} HTTP/1.1\r\n".encode())
    assert b"refresh_token=refresh-0" in request
    assert origin.accepted == 0
    # NO_PROXY names the origin: the next call goes straight to it.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-1"
    assert len(proxy.requests) == 1 and origin.accepted == 1


def test_https_proxy_from_the_environment_tunnels_the_call(raw_server, oauth, pki,
                                                           monkeypatch):
    origin = raw_server(keep_alive(numbered), tls=pki.ip_context)
    proxy = raw_server(tunnel_proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    oauth.token_url = origin.url + TOKEN
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-1"
    assert proxy.requests and proxy.requests[0].startswith(
        f"CONNECT 127.0.0.1:{origin.port} HTTP/".encode())
    assert len(origin.requests) == 1 and b"refresh_token=refresh-0" in origin.requests[0]
