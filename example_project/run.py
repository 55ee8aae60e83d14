#!/usr/bin/env python3
"""Run the example site against the embedded Euler Stream sandbox.

    python3 example_project/run.py

Runs in the Python that calls it when that Python has what the example needs
(Django, django-environ, cryptography, requests, segno). Otherwise it creates a
small virtual environment of its own (example_project/.venv-example) with only
the package and its "example" extra, and runs there: no test or lint tools.

It writes example_project/.env with a new encryption key, Django secret key and
demo password when they are missing, migrates the site's and the sandbox's
databases, creates the demo user and the sandbox OAuth client, then serves the
site on http://127.0.0.1:PORT/.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE_VENV = HERE / ".venv-example"
EXAMPLE_PY = EXAMPLE_VENV / "bin" / "python"
#: Modules the example imports (the package's dependencies and its "example" extra).
NEEDED = ("django", "environ", "cryptography", "requests", "segno", "channels", "uvicorn",
          "websockets")

#: The scopes the example asks for when it connects: everything its pages use except
#: webcast:chat, which the LIVE console's chat box asks for when it is first used
#: (incremental authorization, through @euler_scopes_required).
DEMO_SCOPES = ("user:info webcast:fetch webcast:bulk_live_check webcast:rankings "
               "webcast:mute webcast:ban webcast:comments webcast:sensitive_words "
               "webcast:moderators webcast:live_analytics webcast:user_earnings")


def missing_modules() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def bootstrap() -> None:
    """Re-run in example_project/.venv-example when this Python lacks a needed module."""
    missing = missing_modules()
    if not missing:
        return
    if Path(sys.prefix).resolve() == EXAMPLE_VENV.resolve():
        raise SystemExit(f"{EXAMPLE_VENV} lacks {', '.join(missing)}; delete it and run again.")
    print(f"This Python lacks {', '.join(missing)}: installing the example's dependencies "
          f"into {EXAMPLE_VENV} (once).", flush=True)
    if not EXAMPLE_PY.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(EXAMPLE_VENV)])
    stamp = EXAMPLE_VENV / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        subprocess.check_call([str(EXAMPLE_PY), "-m", "pip", "install", "-q",
                               "-e", f"{ROOT}[example]"])
        stamp.write_text(digest)
    os.execv(str(EXAMPLE_PY), [str(EXAMPLE_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


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


def ensure_demo_user(password: str) -> str:
    """Create the demo superuser; set its password only when new or changed.

    Setting it on every start would change the password hash, and with it the
    session hash: every restart would sign everyone out.
    """
    from django.contrib.auth import get_user_model

    users = get_user_model()
    user = users.objects.filter(username="demo").first()
    if user is None:
        user = users(username="demo", is_staff=True, is_superuser=True)
        user.set_password(password)
        user.save()
        return "created"
    changed = []
    if not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        changed += ["is_staff", "is_superuser"]
    if not user.check_password(password):
        user.set_password(password)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)
    return "password changed" if "password" in changed else "kept"


def ensure_demo_moderator(password: str) -> None:
    """A second, ordinary demo user ("moderator", same password), for the team demo:
    the demo user invites it from the team page to moderate their LIVE room."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username="moderator")
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()


def set_up(port: int, password: str) -> None:
    from django.core.management import call_command

    from django_euler_oauth.sandbox.setup import ensure_accounts, ensure_demo_client

    call_command("migrate", database="default", verbosity=0, interactive=False)
    call_command("migrate", database="euler_sandbox", verbosity=0, interactive=False)
    ensure_demo_user(password)
    ensure_demo_moderator(password)
    sites = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    ensure_demo_client(f"http://127.0.0.1:{port}/sandbox", slug="sandbox",
                       name="Example TikTok App", scopes=DEMO_SCOPES,
                       redirect_uris=[f"{site}/oauth/callback/" for site in sites])
    # Every demo account, in a sandbox database older than the newest one too: the demo
    # connects @sandbox_streamer and @sandbox_viewer; @sandbox_wanderer shows sign-up.
    ensure_accounts(every_demo_account=True)


def fault_warning() -> str:
    """A warning naming the faults still injected into the sandbox (they survive restarts)."""
    from demo.faults import active_faults

    faults = active_faults()
    if not faults:
        return ""
    listed = "\n".join(f"    - {fault}" for fault in faults)
    return ("\n  Warning: the sandbox still injects faults from an earlier run:\n"
            f"{listed}\n  Reset them on the sandbox control page.\n")


def smoke_test() -> None:
    """Render the home and sign-in pages once in-process (templates, URLs, middleware)."""
    from django.test import Client

    for path in ("/", "/accounts/login/"):
        response = Client(HTTP_HOST="127.0.0.1").get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered HTTP {response.status_code}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run.py", description=(__doc__ or "").strip(),
        formatter_class=type("Formatter", (argparse.ArgumentDefaultsHelpFormatter,
                                           argparse.RawDescriptionHelpFormatter), {}))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXAMPLE_PORT", 8000)),
                        help="port to serve on, on 127.0.0.1 (environment: EXAMPLE_PORT)")
    parser.add_argument("--noreload", action="store_true",
                        help="serve without Django's auto-reloader")
    parser.add_argument("--check", action="store_true",
                        help="set everything up, render the home page once and exit "
                             "without serving")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
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
    warning = fault_warning()
    if args.check:
        smoke_test()
        print(warning + f"Set-up OK (Python: {sys.executable}). Serve it with: "
              f"python3 example_project/run.py --port {args.port}")
        return 0
    print(f"\n  Open {url}\n  Sign in as: demo / {password}"
          f" (a second user for the team demo: moderator / {password})\n"
          f"  Sandbox controls: {url}sandbox/control/\n{warning}", flush=True)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """uvicorn on 127.0.0.1 (HTTP and WebSockets), and a relay process beside it when the
    channel layer is Redis (with the in-memory layer the relay runs inside the server).
    Both stop together (Ctrl+C, SIGTERM)."""
    import signal

    from django.conf import settings

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    server = [sys.executable, "-m", "uvicorn", "demo.asgi:application", "--host",
              "127.0.0.1", "--port", str(args.port), "--app-dir", str(HERE),
              "--log-level", "warning"]
    if not args.noreload:
        server += ["--reload", "--reload-dir", str(HERE), "--reload-dir",
                   str(ROOT / "django_euler_oauth")]
    processes = [subprocess.Popen(server, env=env)]
    if not settings.RELAY_IN_PROCESS:
        processes.append(subprocess.Popen(
            [sys.executable, str(HERE / "manage.py"), "euler_oauth_live"], env=env))

    def stop(*_args: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(process.poll() is None for process in processes):
            try:
                processes[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return processes[0].returncode or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
