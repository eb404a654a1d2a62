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
    n_img_tags = html.read_text().split("<main>")[1].count("<img ")  # not KaTeX's code
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


# -- the report as a reader sees it (DevTools protocol: tests/report/conftest.py) -------------
@pytest.fixture
def failing_report(register, fakes, tmp_path: Path) -> Path:
    """A reproduce of four fake experiments, one with a forced failure (offset 1 > tol 0.1),
    beside the demo: a page long enough to scroll, with math in prose, tables and figures."""
    from attnlab.report import reproduce

    for i in range(3):
        register(fakes.make(f"tex-pass-{i}", "texfam"))
    register(fakes.make("tex-fail", "texfam", quick={"offset": 1.0}))
    out = tmp_path / "results"
    outcome = reproduce(only=["texfam", "demo"], out=out, progress=False)
    assert outcome.ok, outcome.records
    return out


RAW_MATH = """(() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => n.parentElement.closest("script,style,pre,code,.katex")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = [];
  while (walker.nextNode()) {
    const m = walker.currentNode.textContent.match(/\\$[^$]+\\$/);
    if (m) { raw.push(m[0]); }
  }
  return raw;
})()"""


def _only_local(tab, allowed: tuple[str, ...]) -> None:
    """Every request of the page is a data: URI or a file under ``allowed``: no network."""
    for url in tab.requests:
        assert url.startswith("data:") or url.startswith(allowed), url


def test_math_is_typeset_offline(devtools, failing_report: Path) -> None:
    tab = devtools.open((failing_report / "report.html").as_uri())
    assert tab.eval("document.body.getAttribute('data-math')") == "typeset"
    assert tab.eval(RAW_MATH) == []  # no $…$ left in the text a reader sees
    n_math = tab.eval("document.querySelectorAll('.katex').length")
    # the demo's model summary, the fake descriptions (4) and the "where" cells (4 + the
    # attention list) hold TeX: every one of them typeset, none an error
    assert n_math >= 10, n_math
    assert tab.eval("document.querySelectorAll('.katex-error').length") == 0
    assert tab.eval("document.fonts.check('16px KaTeX_Main')")
    fonts = tab.eval(
        "document.fonts.ready.then(() => [...document.fonts]"
        ".filter(f => f.family.startsWith('KaTeX') && f.status === 'loaded').length)"
    )
    assert fonts >= 1  # KaTeX's own fonts, embedded in the page, are in use
    _only_local(tab, (failing_report.as_uri(),))


def test_table_of_contents_follows_the_reader(devtools, failing_report: Path) -> None:
    tab = devtools.open((failing_report / "report.html").as_uri())
    toc = "document.querySelector('nav.toc')"
    assert tab.eval(f"getComputedStyle({toc}).position") == "sticky"
    hrefs = tab.eval(f"[...{toc}.querySelectorAll('a')].map(a => a.getAttribute('href'))")
    expected = ["tex-fail", "tex-pass-0", "tex-pass-1", "tex-pass-2", "demo-mean"]
    assert [h for h in hrefs if h[1:] in expected] == [f"#{e}" for e in expected]
    assert tab.eval(f"[...{toc}.querySelectorAll('a')].every(a => document.querySelector(a.hash))")
    height = tab.eval("document.documentElement.scrollHeight")
    assert height > 3 * 800, height  # long enough for the test to mean something
    # read the last experiment: the contents stay at the top of the viewport and mark it
    tab.eval("document.getElementById('demo-mean').scrollIntoView(); true")
    tab.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert tab.eval("window.scrollY") > 800
    assert abs(tab.eval(f"{toc}.getBoundingClientRect().top")) < 1
    assert tab.eval(f"{toc}.querySelector('a.active').getAttribute('href')") == "#demo-mean"


def test_failures_section_leads_to_the_highlighted_row(devtools, failing_report: Path) -> None:
    tab = devtools.open((failing_report / "report.html").as_uri())
    links = tab.eval(
        '[...document.querySelectorAll(\'#attention ~ table a[href^="#row-"], '
        "section.attention a[href^=\"#row-\"]')].map(a => a.getAttribute('href'))"
    )
    assert links == ["#row-tex-fail-1"], links  # the one forced failure, and nothing else
    tab.eval("document.querySelector('section.attention a[href=\"#row-tex-fail-1\"]').click()")
    tab.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert tab.eval("location.hash") == "#row-tex-fail-1"
    row = "document.getElementById('row-tex-fail-1')"
    top = tab.eval(f"{row}.getBoundingClientRect().top")
    assert 0 <= top < 100, top  # scrolled to the row
    assert tab.eval(f"{row}.className") == "row-fail"
    assert tab.eval(f"getComputedStyle({row}).backgroundColor") == "rgb(253, 236, 234)"
    passing = "document.getElementById('row-tex-fail-0')"
    assert tab.eval(f"getComputedStyle({passing}).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert tab.eval("document.querySelector('.banner').className") == "banner bad"


def test_single_file_report_opens_with_no_other_file(devtools, failing_report, tmp_path) -> None:
    from attnlab.report import write_report

    html, _ = write_report(failing_report, single_file=True)
    alone = tmp_path / "mailed"
    alone.mkdir()
    shutil.copy(html, alone / "report.html")
    assert [p.name for p in alone.iterdir()] == ["report.html"]
    tab = devtools.open((alone / "report.html").as_uri())
    total = tab.eval("document.body.getAttribute('data-images-total')")
    assert int(total) == 5  # one figure per fake experiment + the demo's histogram
    assert tab.eval("document.body.getAttribute('data-images-loaded')") == total
    assert tab.eval("document.body.getAttribute('data-math')") == "typeset"
    assert tab.eval(RAW_MATH) == []
    assert tab.eval("document.querySelectorAll('.katex-error').length") == 0
    page = (alone / "report.html").as_uri()
    assert [u for u in tab.requests if not u.startswith("data:")] == [page]
