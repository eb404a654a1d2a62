"""Open reports in a real headless Chromium, driven over its DevTools protocol.

The ``devtools`` fixture (conftest) starts Chromium with ``--remote-debugging-pipe`` and
opens pages in it; a test evaluates JavaScript in the page and reads the requests it made. The
report carries a tiny inline script that, on ``load``, writes each image's ``naturalWidth``
into a ``data-natural-width`` attribute (and the counts on ``<body>``). The ``chromium``
fixture finds or installs the browser, or skips with the reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

IMAGES = (
    "[...document.images].map(i => [i.getAttribute('src'), i.getAttribute('data-natural-width')])"
)


def test_every_figure_loads_in_chromium(devtools, demo_report: Path) -> None:
    html = demo_report / "report.html"
    n_img_tags = html.read_text().split("<main>")[1].count("<img ")  # not KaTeX's code
    tab = devtools.open(html.as_uri())
    widths = dict(tab.eval(IMAGES))
    assert n_img_tags >= 1 and len(widths) == n_img_tags
    assert all(w is not None for w in widths.values()), f"load handler did not run: {widths}"
    assert all(int(w) > 0 for w in widths.values()), f"figures that did not load: {widths}"
    body = "document.body.getAttribute"
    assert tab.eval(f"{body}('data-images-loaded')") == str(n_img_tags)
    assert tab.eval(f"{body}('data-images-total')") == str(n_img_tags)


def test_a_missing_figure_is_detected(devtools, demo_copy: Path) -> None:
    """The check can fail: delete one PNG and its <img> reports naturalWidth 0."""
    html = demo_copy / "report.html"
    first = devtools.open(html.as_uri()).eval("document.images[0].getAttribute('src')")
    (demo_copy / first).unlink()
    tab = devtools.open(html.as_uri())
    widths = dict(tab.eval(IMAGES))
    assert widths[first] == "0"
    loaded = tab.eval("document.body.getAttribute('data-images-loaded')")
    assert int(loaded) == len(widths) - 1


# -- the report as a reader sees it (DevTools protocol: tests/report/conftest.py) -------------
@pytest.fixture(scope="module")
def failing_report(fakes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reproduce of four fake experiments, one with a forced failure (offset 1 > tol 0.1),
    beside the demo: a page long enough to scroll, with math in prose, tables and figures.
    Built once for this file's readers (about 10 s); a test that writes into it works on a
    copy. The fakes are registered only while it is built."""
    from attnlab import registry
    from attnlab.report import reproduce

    registry.all_experiments()  # discover the real families first
    out = tmp_path_factory.mktemp("failing-report") / "results"
    with pytest.MonkeyPatch.context() as mp:
        for exp in [fakes.make(f"tex-pass-{i}", "texfam") for i in range(3)] + [
            fakes.make("tex-fail", "texfam", quick={"offset": 1.0})
        ]:
            mp.setitem(registry._REGISTRY, exp.name, exp)
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

    results = tmp_path / "results"
    shutil.copytree(failing_report, results)  # the shared report stays as built
    html, _ = write_report(results, single_file=True)
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
