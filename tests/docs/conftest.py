"""Fixtures of the docs tests: the built site, and the report tests' Chromium."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _report_conftest():
    """tests/report/conftest.py, for its ``chromium`` fixture (one way to find the browser)."""
    spec = importlib.util.spec_from_file_location(
        "attnlab_tests_report_conftest", ROOT / "tests" / "report" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chromium = _report_conftest().chromium


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built documentation site.

    ``$ATTNLAB_DOCS_SITE`` when set (``scripts/test`` builds the site just before pytest and
    sets it); otherwise the site is built here, strict, into a temporary folder (about 20 s).
    """
    given = os.environ.get("ATTNLAB_DOCS_SITE")
    if given:
        site = Path(given)
        assert (site / "index.html").is_file(), f"ATTNLAB_DOCS_SITE={given} holds no built site"
        return site
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("the docs tools are not installed: pip install -e '.[docs]'")
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-4000:]}"
    return site
