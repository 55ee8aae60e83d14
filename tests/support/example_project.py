"""The example project, run from the test suite: where it is and the environment it gets."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "example_project" / "run.py"


def example_env(tmp: Path) -> dict[str, str]:
    """Environment for the example project with every file under ``tmp``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "EULER_OAUTH_", "EXAMPLE_", "DATABASE_URL",
                                "SANDBOX_DATABASE_URL"))}
    env.update({
        "EXAMPLE_ENV_FILE": str(tmp / ".env"),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp / 'sandbox.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    })
    return env
