"""The documentation site: every page the navigation needs, math typeset offline in Chromium.

The browser tests serve a copy of the built site on 127.0.0.1 (resource timing is only kept
for http pages) whose theory pages carry one extra script: on ``load`` (plus one second) it
writes into ``<body>`` the URL of every resource the page loaded
(``performance.getEntriesByType("resource")``: scripts, stylesheets, fonts, images, fetches)
and how many ``.arithmatex`` formulas hold no KaTeX output. Chromium's ``--dump-dom`` prints the
DOM after scripts ran, so the test reads them back without a driver library. Any resource from
another origin than the local server is a network request the offline site must not make.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAMILY_THEORY = ("subspace", "pooling", "erf_slr", "gslr", "gslr_bayes_optimal")
API_PAGES = (
    *("subspace", "pooling", "erf_slr", "gslr", "demo"),
    *("config", "compare", "rng", "precision", "registry", "store", "sweep", "plot"),
    *("progress", "report"),
)
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
    "--virtual-time-budget=10000",
)
PROBE = """<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var names = performance.getEntriesByType("resource").map(function (e) { return e.name; });
    var formulas = document.querySelectorAll(".arithmatex");
    var bare = Array.prototype.filter.call(formulas, function (el) {
      return !el.querySelector(".katex");
    });
    document.body.setAttribute("data-resources", JSON.stringify(names));
    document.body.setAttribute("data-formulas", String(formulas.length));
    document.body.setAttribute("data-untypeset", String(bare.length));
    document.body.setAttribute("data-katex-errors",
      String(document.querySelectorAll(".katex-error").length));
  }, 1000);
});
</script>"""
SKIP_TAGS = {"script", "style", "code", "pre", "annotation", "svg"}
RAW_MATH = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|(?<![\w$])\$[^\s$][^$]*\$")


class _Page(HTMLParser):
    """The <body> attributes and the visible text outside code and typeset math."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.text: list[str] = []
        self._stack: list[bool] = []  # per open element: is it (inside) a skipped element?

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        classes = (attrs.get("class") or "").split()
        skipped = (self._stack and self._stack[-1]) or tag in SKIP_TAGS or "katex" in classes
        if tag not in {"br", "img", "hr", "input", "meta", "link", "source", "wbr"}:
            self._stack.append(bool(skipped))

    def handle_endtag(self, tag):
        if self._stack and tag not in {"br", "img", "hr", "input", "meta", "link", "source"}:
            self._stack.pop()

    def handle_data(self, data):
        if not (self._stack and self._stack[-1]):
            self.text.append(data)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log on stderr
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def render(chromium: str, url: str, profile: Path) -> _Page:
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = _Page()
    page.feed(proc.stdout)
    assert page.body, f"no <body> in Chromium's DOM dump: {proc.stdout[:500]!r}"
    return page


def probed_copy(site: Path, dest: Path) -> list[str]:
    """Copy the site to ``dest``, add the probe to every theory page; return their paths."""
    shutil.copytree(site, dest)
    pages = sorted((dest / "theory").rglob("index.html"))
    for page in pages:
        text = page.read_text()
        assert "</body>" in text
        page.write_text(text.replace("</body>", PROBE + "</body>", 1))
    return [page.parent.relative_to(dest).as_posix() + "/" for page in pages]


def test_navigation_lists_every_theory_and_api_page():
    """mkdocs.yml names each family's theory page and API page: a missing one fails the build."""
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^strict: true$", config, re.M)
    assert re.search(r"^  nav:\n(    \w+: warn\n)*    not_found: warn$", config, re.M)
    for name in FAMILY_THEORY:
        assert f": theory/{name}.md\n" in config, name
    for name in API_PAGES:
        assert f": api/{name}.md\n" in config, name
        assert (ROOT / "docs" / "api" / f"{name}.md").read_text().strip() == f"::: attnlab.{name}"


def test_built_site_loads_nothing_from_the_network(docs_site: Path):
    """No page or stylesheet of the built site refers to a remote script, style, font or image."""
    remote = re.compile(
        r"<(?:script|img|source|iframe|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//"
        r"|url\(\s*[\"']?\s*(?:https?:)?//|@import\s+[\"']?(?:https?:)?//",
        re.I,
    )
    files = [p for p in docs_site.rglob("*") if p.suffix in (".html", ".css", ".js")]
    assert len(files) > 20
    offenders = [
        str(p.relative_to(docs_site))
        for p in files
        if p.suffix != ".js" and remote.search(p.read_text(errors="replace"))
    ]
    assert not offenders
    for name in FAMILY_THEORY:
        assert (docs_site / "theory" / name / "index.html").is_file(), name
    assert (docs_site / "assets" / "katex" / "katex.min.js").is_file()


@pytest.mark.browser
def test_theory_pages_are_typeset_offline_in_chromium(chromium, docs_site, tmp_path):
    pages = probed_copy(docs_site, tmp_path / "site")
    assert len(pages) >= len(FAMILY_THEORY) + 1  # the overview and one page per family
    with serve(tmp_path / "site") as base:
        rendered = {
            name: render(chromium, base + name, tmp_path / f"profile{i}")
            for i, name in enumerate(pages)
        }
    for name, page in rendered.items():
        assert page.body.get("data-formulas") is not None, f"{name}: the probe did not run"
        if name != "theory/":  # the overview may have no formula; every family page has some
            assert int(page.body["data-formulas"]) > 0, f"{name}: no formula on the page"
        assert page.body["data-untypeset"] == "0", f"{name}: formulas left untypeset"
        assert page.body["data-katex-errors"] == "0", f"{name}: KaTeX could not parse a formula"
        raw = RAW_MATH.findall(" ".join(page.text))
        assert not raw, f"{name}: raw TeX left in the page: {raw[:5]}"
        resources = json.loads(page.body["data-resources"])
        remote = [url for url in resources if not url.startswith(base)]
        assert not remote, f"{name}: network requests {remote}"
        if int(page.body["data-formulas"]):
            fonts = [url for url in resources if "/assets/katex/fonts/" in url]
            assert fonts, f"{name}: KaTeX's fonts were not loaded from the site: {resources}"


@pytest.mark.browser
def test_untypeset_math_is_detected(chromium, docs_site, tmp_path):
    """The check can fail: without KaTeX's script, the formulas stay raw and are reported."""
    pages = probed_copy(docs_site, tmp_path / "site")
    (tmp_path / "site" / "assets" / "katex" / "katex.min.js").unlink()
    with serve(tmp_path / "site") as base:
        page = render(chromium, base + pages[-1], tmp_path / "profile")
    assert int(page.body["data-untypeset"]) == int(page.body["data-formulas"]) > 0
    assert RAW_MATH.findall(" ".join(page.text))
