"""Supported versions, checked: ``nox`` (or ``python3 runtests.py``, which runs ``nox -t ci``).

Sessions (``nox -l``):

* ``tests(<python>-django<X.Y>)``: the SQLite suite, without the browser, slow and PostgreSQL
  tests, on one Python x Django pair (newest patch releases of everything). CI runs the
  newest pair, Python 3.13 + Django 6.1; the others run on demand.
* ``lowest``: the same tests on the oldest pair, Python 3.10 + Django 4.2, with every runtime
  dependency at the floor ``pyproject.toml`` declares (``>=X`` installed as ``==X``: Django
  4.2.0, requests 2.28.0, ...) and urllib3 1.26. CI runs it in place of the oldest pair at
  its newest patch releases (``tests(3.10-django4.2)``), which it covers but for the patches.
* ``package``: builds the sdist and the wheel, checks what each ships, installs the wheel in
  a venv of its own and runs ``django-admin check --deploy`` and ``migrate`` against it from
  outside the source tree, and collects the tests from the unpacked sdist.

Sessions install the dependencies, not the package: the tests import it from the source tree
(``PYTHONPATH``), so sessions never build in the tree and can run in parallel (each venv is
``.nox/<session>``). pip's cache is shared. Interpreters come from ``PATH`` or pyenv.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).resolve().parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FAST = "not postgres and not browser and not slow"
# The hypothesis fuzzers (200 examples each, about 90 s) test our parsing, not Django's or
# requests' versions: the main suite runs them; the matrix skips them to stay cheap.
NOT_FUZZ = "not test_fuzz_"

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"
nox.options.sessions = None


def _find_interpreters() -> None:
    """Make ``pythonX.Y`` resolvable: pyenv's shims only answer for the global versions."""
    shim_dir = ROOT / ".nox" / ".python"
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in ("3.10", "3.11", "3.12", "3.13"):
        on_path = shutil.which(f"python{version}")
        if on_path and subprocess.call([on_path, "-c", ""], stderr=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL) == 0:
            continue
        found = sorted(glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" /
                                     f"python{version}")),
                       key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parts[-3])])
        if found:
            shim_dir.mkdir(parents=True, exist_ok=True)
            # Atomically: parallel nox processes (runtests.py's lanes) all do this.
            tmp_link = shim_dir / f".python{version}.{os.getpid()}"
            tmp_link.unlink(missing_ok=True)
            tmp_link.symlink_to(found[-1])
            os.replace(tmp_link, shim_dir / f"python{version}")
    if shim_dir.is_dir() and str(shim_dir) not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = f"{shim_dir}{os.pathsep}{os.environ['PATH']}"


_find_interpreters()


def _requirements(*extras: str) -> list[str]:
    deps = list(PYPROJECT["dependencies"])
    for extra in extras:
        deps += [d for d in PYPROJECT["optional-dependencies"][extra]
                 if not d.startswith("django-euler-oauth")]
    return deps


def _floors() -> list[str]:
    """``name>=X`` of every runtime dependency as ``name==X``."""
    pins = []
    for dep in PYPROJECT["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", dep.strip())
        if not match:
            raise ValueError(f"dependency without a plain >= floor: {dep!r}")
        pins.append(f"{match[1]}=={match[3]}")
    return pins


def _pytest(session: nox.Session) -> None:
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False,
                external=False, log=False)
    env = {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "EULER_SKIP_BROWSER": "1"}
    args = session.posargs or ["-q"]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "-m", FAST,
                "-k", NOT_FUZZ, *args, env=env)


MATRIX = [
    nox.param("3.10", "4.2", id="3.10-django4.2"),
    nox.param("3.11", "5.0", id="3.11-django5.0"),
    nox.param("3.12", "5.1", id="3.12-django5.1"),
    nox.param("3.12", "5.2", id="3.12-django5.2"),
    nox.param("3.12", "6.0", id="3.12-django6.0"),
    nox.param("3.13", "6.1", id="3.13-django6.1", tags=["ci"]),
]


@nox.session
@nox.parametrize(("python", "django"), MATRIX)
def tests(session: nox.Session, django: str) -> None:
    """The fast SQLite suite on one Python x Django pair (newest patch releases)."""
    session.install(*_requirements("test"), f"Django~={django}.0")
    _pytest(session)


@nox.session(python="3.10", tags=["ci"])
def lowest(session: nox.Session) -> None:
    """The fast SQLite suite with every runtime dependency at its declared floor."""
    constraints = Path(session.create_tmp()) / "lowest.txt"
    # urllib3 is requests' dependency, not ours: requests 2.28 allows 1.21.1 to 1.26,
    # and 1.26 is what stays installed next to it in practice (Debian 12: 1.26.12).
    constraints.write_text("\n".join([*_floors(), "urllib3<2"]) + "\n")
    session.install("-c", str(constraints), *_requirements("test"))
    _pytest(session)


MINIMAL_SETTINGS = """
SECRET_KEY = "package-check-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["example.com"]
USE_TZ = True
ROOT_URLCONF = "package_check_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django_euler_oauth",
]
AUTHENTICATION_BACKENDS = ["django_euler_oauth.backends.EulerAccountBackend",
                           "django.contrib.auth.backends.ModelBackend"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_euler_oauth.middleware.EulerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
SECURE_HSTS_SECONDS = 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": [
                  "django.template.context_processors.request",
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3",
                         "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30}}}
EULER_OAUTH_ENCRYPTION_KEYS = ["qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A="]
"""

MINIMAL_URLS = """
from django.urls import include, path
urlpatterns = [path("oauth/", include("django_euler_oauth.urls"))]
"""

WHEEL_SMOKE = """
import sys
from pathlib import Path
import django
django.setup()
import django_euler_oauth
from django.template.loader import get_template
from django.urls import reverse
where = Path(django_euler_oauth.__file__).resolve()
assert "site-packages" in where.parts, where
for module in ("django_euler_oauth.models", "django_euler_oauth.views", "django_euler_oauth.admin",
               "django_euler_oauth.middleware", "django_euler_oauth.checks"):
    __import__(module)
get_template("django_euler_oauth/error.html")
print("wheel OK:", django_euler_oauth.__version__, where.parent, reverse("euler_oauth:authorize"))
"""


def _members(path: Path) -> list[str]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return wheel.namelist()
    with tarfile.open(path) as sdist:
        return [m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name]


@nox.session(python="3.11", tags=["ci"])
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, check their contents, install and run the wheel."""
    session.install("build>=1.2")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # Build from a copy: setuptools writes egg-info and build/ next to the sources, and
    # the tree is shared with whatever else is running.
    src = Path(session.create_tmp()) / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".nox", "*.egg-info", "build", "dist", "__pycache__", ".*_cache",
        ".hypothesis", "artifacts", "_build", "db.sqlite3", ".env"))
    session.run("python", "-m", "build", "--outdir", str(dist), str(src), silent=True)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    in_wheel = _members(wheel)
    in_sdist = _members(sdist)
    session.log(f"{wheel.name}: {len(in_wheel)} files; {sdist.name}: {len(in_sdist)} files")
    version = wheel.name.split("-")[1]
    dist_info = f"django_euler_oauth-{version}.dist-info"
    problems = []
    for needed in ("django_euler_oauth/py.typed", "django_euler_oauth/migrations/0001_initial.py",
                   "django_euler_oauth/templates/django_euler_oauth/error.html",
                   "django_euler_oauth/sandbox/templates",
                   "django_euler_oauth/locale/de/LC_MESSAGES/django.mo",
                   f"{dist_info}/licenses/LICENSE", f"{dist_info}/METADATA"):
        if not any(name.startswith(needed) for name in in_wheel):
            problems.append(f"wheel lacks {needed}")
    for name in in_wheel:
        if not name.startswith(("django_euler_oauth/", dist_info + "/")) or "__pycache__" in name:
            problems.append(f"wheel ships {name}")
    # The sdist is the whole project: everything the test suite needs runs from it.
    for needed in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "runtests.py",
                   "noxfile.py", "tests/conftest.py", "tests/settings.py", "tests/urls.py",
                   "tests/support/loopback.py", "tests/support/sandbox_fixtures.py", "bench/run.py",
                   "example_project/run.py", "docs/conf.py", "docs/index.md",
                   "django_euler_oauth/py.typed"):
        if needed not in in_sdist:
            problems.append(f"sdist lacks {needed}")
    for name in in_sdist:
        if re.search(r"(__pycache__|\.pyc$|\.sqlite3$|(^|/)\.env$|^\.venv/|^\.nox/|^\.git/|"
                     r"^docs/_build/|^build/|^dist/)", name):
            problems.append(f"sdist ships {name}")
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    for field in ("License-Expression: MIT", "License-File: LICENSE", "Project-URL: Documentation",
                  "Classifier: Framework :: Django :: 4.2", "Requires-Python: >=3.10"):
        if field not in metadata:
            problems.append(f"METADATA lacks {field!r}")
    if problems:
        session.error("packaging problems:\n  " + "\n  ".join(problems))

    # The wheel, installed, outside the source tree.
    session.install(str(wheel))
    scratch = Path(tempfile.mkdtemp(prefix="euler-wheel-"))
    try:
        (scratch / "package_check_settings.py").write_text(MINIMAL_SETTINGS)
        (scratch / "package_check_urls.py").write_text(MINIMAL_URLS)
        env = {"PYTHONPATH": str(scratch), "DJANGO_SETTINGS_MODULE": "package_check_settings",
               "PYTHONDONTWRITEBYTECODE": "1"}
        with session.chdir(scratch):
            (scratch / "smoke.py").write_text(WHEEL_SMOKE)
            session.run("python", "smoke.py", env=env)
            session.run("django-admin", "check", "--deploy", "--fail-level", "WARNING",
                        env=env)
            session.run("django-admin", "migrate", "-v", "0", env=env)
            session.run("django-admin", "makemigrations", "--check", "--dry-run",
                        "django_euler_oauth", env=env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    # The sdist carries its tests: unpack it and collect them (imports every module).
    session.install(*_requirements("test"))
    unpacked = Path(session.create_tmp()) / "sdist"
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir()
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked, filter="data")
    (top,) = unpacked.iterdir()
    with session.chdir(top):
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                    env={"PYTHONPATH": str(top), "PYTHONDONTWRITEBYTECODE": "1"}, silent=True)
    session.log(f"sdist collects its tests from {top}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it with nox: nox -l")
