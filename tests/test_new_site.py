"""A brand-new site, built from the README's Install section and the sandbox page, literally.

``django-admin startproject mysite`` in a temporary folder (with the tests' Python); then
each code block the docs mark with ``<!-- new-site: FILE -->`` is appended to that file of
the project package (``settings.py``, ``urls.py``, ``views.py``), in the order of
``README.md`` then ``docs/sandbox.md``, and the ``shell`` blocks run in one bash, in the
project's folder, with ``python`` the tests' Python: the key generation, ``migrate``,
``euler_oauth_sandbox_setup``. The docs' address ``127.0.0.1:8000`` becomes a free loopback
port; ``runserver`` (which the test starts itself, on that port) and ``createsuperuser``
(interactive) are the two lines the script leaves out. Over real HTTP, a user the test
creates signs in on the site's login page, connects a TikTok account through the sandbox's
screens, and presses the README's "Say hello" button: the first press grants
``webcast:chat`` (incremental authorization), the second sends the chat.

So the docs and the test cannot drift: change a snippet and this test runs the new one.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from .support.sandbox_fixtures import SandboxBrowser, hang_up

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", ROOT / "docs" / "sandbox.md")
DOCS_ADDRESS = "127.0.0.1:8000"
TIMEOUT = 10  # seconds, each HTTP request
ROOM = "7300000000000000001"  # @sandbox_streamer's LIVE room (sandbox.setup.DEMO_ACCOUNTS)

_BLOCK = re.compile(r"<!-- new-site: (\S+) -->\n```[a-z]*\n(.*?)\n```", re.DOTALL)
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
#: Shell lines the test does itself: the server (on its own port), the interactive user.
_LEFT_OUT = ("python manage.py runserver", "python manage.py createsuperuser")


def marked_blocks(path: Path) -> list[tuple[str, str]]:
    """``(target, code)`` for each block of ``path`` marked ``<!-- new-site: target -->``."""
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_docs_mark_every_step_of_the_recipe():
    """Fast guard for the slow test: the blocks it follows are there, with nothing left to
    fill in, and docs/install.md shows the README's steps rather than a copy of them."""
    readme, sandbox = (marked_blocks(path) for path in DOCS)
    assert [target for target, _code in readme] == [
        "shell", "settings.py", "urls.py", "shell", "views.py", "urls.py"]
    assert [target for target, _code in sandbox] == ["settings.py", "urls.py", "shell"]
    for target, code in readme + sandbox:
        assert "..." not in code, f"{target}: a placeholder"
        assert "env." not in code, f"{target}: an undefined env"
    shell = "\n".join(code for target, code in readme + sandbox if target == "shell")
    key_at = shell.index("EULER_OAUTH_ENCRYPTION_KEYS=")
    assert key_at < shell.index("manage.py migrate"), "the key must come before migrate"
    assert "euler_oauth_sandbox_setup --site-url http://127.0.0.1:8000" in shell
    text = DOCS[0].read_text(encoding="utf-8")
    # Installable before the package is on PyPI: from GitHub, or from a clone.
    assert 'pip install "git+https://github.com/django-euler-oauth/django-euler-oauth"' in text
    assert "pip install -e /path/to/django-euler-oauth" in text
    install = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert ":start-after: <!-- install: start -->" in install
    assert ":end-before: <!-- install: end -->" in install
    assert text.count("<!-- install: start -->") == text.count("<!-- install: end -->") == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_env(tmp: Path) -> dict[str, str]:
    """The environment of a shell on a developer's machine: no test settings, no keys, and
    ``python`` the tests' Python (a wrapper first on PATH)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "EULER_"))}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": str(ROOT),  # the package under test, however it is installed
                "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str],
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str], port: int) -> Iterator[Path]:
    """``manage.py runserver`` on 127.0.0.1:``port`` until the block ends; yields its log."""
    log_path = project.parent / "runserver.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log_path.read_text(errors="replace")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "runserver did not listen within 30 s"
            time.sleep(0.2)
        yield log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def post_form(session: requests.Session, page: requests.Response,
              **fields: str) -> requests.Response:
    """Submit the page's (first) POST form with its CSRF token and ``fields``."""
    action = re.search(r'<form[^>]*action="([^"]*)"[^>]*method="post"|'
                       r'<form[^>]*method="post"[^>]*action="([^"]*)"', page.text)
    assert action, page.text[:500]
    token = _CSRF.search(page.text)
    assert token, "no CSRF token on the page"
    url = urljoin(page.url, html.unescape(action.group(1) or action.group(2) or ""))
    return session.post(url, data={"csrfmiddlewaretoken": token.group(1), **fields},
                        timeout=TIMEOUT, allow_redirects=False)


def follow(session: requests.Session, response: requests.Response) -> requests.Response:
    """GET the response's redirect (with the site's session)."""
    assert response.status_code == 302, (response.status_code, response.text[:500])
    return session.get(urljoin(response.url, response.headers["Location"]), timeout=TIMEOUT,
                       allow_redirects=False)


def through_the_sandbox(session: requests.Session, authorize_url: str,
                        site: str) -> requests.Response:
    """The site's authorize URL, the sandbox's screens (in a browser session of their own),
    then the callback with the site's session; returns the callback's answer."""
    to_sandbox = session.get(authorize_url, timeout=TIMEOUT, allow_redirects=False)
    assert to_sandbox.status_code == 302, to_sandbox.text[:500]
    assert to_sandbox.headers["Location"].startswith(f"{site}/sandbox/tiktok/oauth/authorize")
    with SandboxBrowser() as browser:
        back = browser.authorize(to_sandbox.headers["Location"])
    assert back.startswith(f"{site}/tiktok/callback/?code="), back
    return session.get(back, timeout=TIMEOUT, allow_redirects=False)


@pytest.mark.slow
def test_a_new_site_from_the_docs_connects_a_tiktok_account(tmp_path):
    env = site_env(tmp_path)
    run([sys.executable, "-m", "django", "startproject", "mysite"], cwd=tmp_path, env=env)
    project = tmp_path / "mysite"
    port = free_port()
    site = f"http://127.0.0.1:{port}"

    script = []
    for doc in DOCS:
        for target, code in marked_blocks(doc):
            if target == "shell":
                script += [line for line in code.splitlines()
                           if not line.startswith(_LEFT_OUT)]
                continue
            with (project / "mysite" / target).open("a", encoding="utf-8") as out:
                out.write(f"\n\n{code}\n")
    key_file = tmp_path / "key"
    script.append(f'printf %s "$EULER_OAUTH_ENCRYPTION_KEYS" > {shlex.quote(str(key_file))}')
    shell = run(["bash", "-euo", "pipefail", "-c",
                 "\n".join(script).replace(DOCS_ADDRESS, f"127.0.0.1:{port}")],
                cwd=project, env=env, timeout=180)
    out = shell.stdout + shell.stderr

    # Plain migrate migrated both databases, saying so; each holds only its own tables.
    assert "Now the sandbox's database ('euler_sandbox')" in out
    with contextlib.closing(sqlite3.connect(project / "sandbox.sqlite3")) as sandbox_db:
        tables = {row[0] for row in sandbox_db.execute("SELECT name FROM sqlite_master")}
        secret, api_key = sandbox_db.execute(
            "SELECT client_secret, api_key FROM euler_sandbox_sandboxclient").fetchone()
    assert "euler_sandbox_sandboxclient" in tables
    assert "django_euler_oauth_connection" not in tables
    # The setup command registered the routed callback, and printed no secret.
    assert f"redirect URI:      {site}/tiktok/callback/" in out
    assert secret not in out and api_key not in out
    key = key_file.read_text()
    assert key and key not in out

    env["EULER_OAUTH_ENCRYPTION_KEYS"] = key  # what the docs' shell exported
    run([sys.executable, "manage.py", "shell", "-c",
         "from django.contrib.auth import get_user_model; "
         "get_user_model().objects.create_user('alice', password='correct horse 42')"],
        cwd=project, env=env)

    with serving(project, env, port) as log_path, requests.Session() as session:
        try:
            # Signing in: the app's page sends to LOGIN_URL, which comes back to it.
            accounts = session.get(f"{site}/tiktok/accounts/", timeout=TIMEOUT,
                                   allow_redirects=False)
            login_page = follow(session, accounts)
            assert login_page.status_code == 200, login_page.text[:500]
            signed_in = post_form(session, login_page, username="alice",
                                  password="correct horse 42")
            accounts = follow(session, signed_in)
            assert accounts.url == f"{site}/tiktok/accounts/", accounts.url
            assert "No TikTok account is connected yet." in accounts.text

            # Connecting: the accounts page's link, the sandbox's screens, back.
            link = re.search(r'href="([^"]+)"[^>]*>Connect another TikTok account<',
                             accounts.text)
            assert link, accounts.text[:1000]
            callback = through_the_sandbox(
                session, urljoin(accounts.url, html.unescape(link.group(1))), site)
            accounts = follow(session, callback)
            assert "@sandbox_streamer" in accounts.text
            assert "is connected" in accounts.text

            # The README's view: the first press grants webcast:chat, and sends nothing.
            hello = f"{site}/hello/{ROOM}/"
            token = session.cookies["csrftoken"]
            pressed = session.post(hello, data={"csrfmiddlewaretoken": token},
                                   timeout=TIMEOUT, allow_redirects=False)
            assert pressed.status_code == 302, pressed.text[:500]
            assert "webcast%3Achat" in pressed.headers["Location"]
            callback = through_the_sandbox(
                session, urljoin(hello, pressed.headers["Location"]), site)
            back = follow(session, callback)  # GET /hello/...: back, nothing sent
            assert back.url == hello and back.status_code == 302
            pressed = session.post(hello, data={"csrfmiddlewaretoken": token},
                                   timeout=TIMEOUT, allow_redirects=False)
            assert pressed.status_code == 302, pressed.text[:500]
            assert "Said hello." in follow(session, pressed).text
        finally:
            hang_up(session)
        log = log_path.read_text(errors="replace")

    assert "Traceback" not in log and '" 500 ' not in log, log
    with contextlib.closing(sqlite3.connect(project / "db.sqlite3")) as site_db:
        rows = site_db.execute(
            "SELECT u.username, c.external_username, c.status, c.scope, c.access_token "
            "FROM django_euler_oauth_connection c JOIN auth_user u ON u.id = c.user_id"
        ).fetchall()
    assert len(rows) == 1, rows
    username, account, status, scope, stored_token = rows[0]
    assert (username, account, status) == ("alice", "sandbox_streamer", "active")
    assert "webcast:chat" in scope.split()
    assert stored_token.startswith("gAAAA")  # encrypted at rest with the docs' key
    with contextlib.closing(sqlite3.connect(project / "sandbox.sqlite3")) as sandbox_db:
        chats = sandbox_db.execute(
            "SELECT content FROM euler_sandbox_roomevent WHERE kind = 'chat'").fetchall()
    assert chats == [("Hello from my bot",)]
