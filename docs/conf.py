"""Sphinx configuration: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

The API reference is autodoc, so Django is set up with the test settings first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import django_euler_oauth  # noqa: E402

project = "django-euler-oauth"
author = "The django-euler-oauth authors"
copyright = "2026, The django-euler-oauth authors"
release = django_euler_oauth.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Django model fields are documented by the model's docstring and the admin, not one by one.
autodoc_inherit_docstrings = False

html_theme = "furo"
html_title = f"django-euler-oauth {release}"
html_theme_options = {
    "source_repository": "https://github.com/django-euler-oauth/django-euler-oauth/",
    "source_branch": "main",
    "source_directory": "docs/",
}
