#!/usr/bin/env python3
"""Run the example site against the embedded sandbox: ``python3 example_project/run.py``.

On a fresh machine with only Python 3.10+ it creates ``.venv`` (the repository's, via
runtests.ensure_venv) and re-runs itself there; writes ``example_project/.env`` with
a new Fernet key, Django secret key and demo password when missing; migrates both
databases (the site's and the sandbox's); creates the demo user and the sandbox
OAuth client; then serves the site on http://127.0.0.1:8000/.

Options: ``--port N`` (default 8000), ``--noreload``, ``--check`` (do the set-up,
render the home page once, and exit without serving).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv"


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap() -> None:
    """Re-execute under .venv/bin/python, creating and filling .venv first if needed."""
    if in_venv() or os.environ.get("EULER_EXAMPLE_NO_VENV"):
        return
    sys.path.insert(0, str(ROOT))
    from runtests import VENV_PY, ensure_venv

    ensure_venv()
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


def env_file() -> Path:
    return Path(os.environ.get("EXAMPLE_ENV_FILE", HERE / ".env"))


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
    return values


def ensure_env(path: Path) -> dict[str, str]:
    """Add the secrets .env lacks (never replacing one: tokens stay decryptable)."""
    from cryptography.fernet import Fernet

    values = read_env(path)
    generated = {
        "EULER_OAUTH_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
        "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
        "EXAMPLE_DEMO_PASSWORD": lambda: secrets.token_urlsafe(9),
    }
    missing = {key: make() for key, make in generated.items() if not values.get(key)}
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = path.read_text() if path.exists() else (
            "# Written by example_project/run.py; see .env.example for every variable.\n")
        lines = [f"{key}={value}" for key, value in missing.items()]
        path.write_text(existing.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
        path.chmod(0o600)
        print(f"Wrote new secrets ({', '.join(missing)}) to {path}")
        values.update(missing)
    return values


def set_up(port: int, password: str) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from django_euler_oauth.sandbox.setup import ensure_demo_client

    call_command("migrate", database="default", verbosity=0, interactive=False)
    call_command("migrate", database="euler_sandbox", verbosity=0, interactive=False)
    users = get_user_model()
    user = users.objects.filter(username="demo").first() or users(username="demo")
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    sites = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    ensure_demo_client(f"http://127.0.0.1:{port}/sandbox", slug="sandbox",
                       name="Example TikTok App",
                       redirect_uris=[f"{site}/oauth/callback/" for site in sites])


def smoke_test() -> None:
    """Render the home and sign-in pages once in-process (templates, URLs, middleware)."""
    from django.test import Client

    for path in ("/", "/accounts/login/"):
        response = Client(HTTP_HOST="127.0.0.1").get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered HTTP {response.status_code}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXAMPLE_PORT", 8000)))
    parser.add_argument("--noreload", action="store_true", help="no auto-reloader")
    parser.add_argument("--check", action="store_true", help="set up, verify and exit")
    args = parser.parse_args(argv)
    bootstrap()

    values = ensure_env(env_file())
    os.environ["EXAMPLE_ENV_FILE"] = str(env_file())
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    sys.path[:0] = [str(HERE), str(ROOT)]
    import django

    django.setup()
    from django.core.management import call_command

    password = os.environ.get("EXAMPLE_DEMO_PASSWORD") or values["EXAMPLE_DEMO_PASSWORD"]
    set_up(args.port, password)
    call_command("check", fail_level="ERROR")
    url = f"http://127.0.0.1:{args.port}/"
    if args.check:
        smoke_test()
        print(f"Set-up OK. Serve it with: python3 example_project/run.py --port {args.port}")
        return 0
    print(f"\n  Open {url}\n  Sign in as: demo / {password}\n"
          f"  Sandbox controls: {url}sandbox/control/\n", flush=True)
    command = [sys.executable, str(HERE / "manage.py"), "runserver", f"127.0.0.1:{args.port}"]
    if args.noreload:
        command.append("--noreload")
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
