"""Open report.html in a real headless Chromium and check that every figure loads.

The report carries a tiny inline script that, on ``load``, writes each image's
``naturalWidth`` into a ``data-natural-width`` attribute (and the counts on ``<body>``);
Chromium's ``--dump-dom`` prints the DOM after scripts ran, so the widths can be read back
without a driver library. ``--virtual-time-budget`` lets the page finish loading first.
The ``chromium`` fixture (conftest) finds or installs the browser, or skips with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=5000",
)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "body":
            self.body = dict(attrs)


def rendered_images(chromium: str, html: Path, profile: Path) -> _Images:
    """The DOM of ``html`` after Chromium loaded it, parsed for <img> and <body>."""
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", html.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = _Images()
    parsed.feed(proc.stdout)
    assert parsed.body, f"no <body> in Chromium's DOM dump: {proc.stdout[:500]!r}"
    return parsed


def test_every_figure_loads_in_chromium(chromium: str, demo_report: Path, tmp_path) -> None:
    html = demo_report / "report.html"
    n_img_tags = html.read_text().count("<img ")
    dom = rendered_images(chromium, html, tmp_path / "profile")
    assert n_img_tags >= 1 and len(dom.images) == n_img_tags
    widths = {img["src"]: img.get("data-natural-width") for img in dom.images}
    assert all(w is not None for w in widths.values()), f"load handler did not run: {widths}"
    assert all(int(w) > 0 for w in widths.values()), f"figures that did not load: {widths}"
    assert dom.body["data-images-loaded"] == dom.body["data-images-total"] == str(n_img_tags)


def test_a_missing_figure_is_detected(chromium: str, demo_copy: Path, tmp_path) -> None:
    """The check can fail: delete one PNG and its <img> reports naturalWidth 0."""
    html = demo_copy / "report.html"
    dom = rendered_images(chromium, html, tmp_path / "p1")
    first = dom.images[0]["src"]
    (demo_copy / first).unlink()
    shutil.rmtree(tmp_path / "p1", ignore_errors=True)
    dom = rendered_images(chromium, html, tmp_path / "p2")
    widths = {img["src"]: img.get("data-natural-width") for img in dom.images}
    assert widths[first] == "0"
    assert int(dom.body["data-images-loaded"]) == len(dom.images) - 1
