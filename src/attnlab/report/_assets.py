"""The files a report page needs beyond its HTML: KaTeX, figures, links to the theory pages.

KaTeX (vendored under ``attnlab/_assets/katex``, MIT) typesets the TeX between ``$`` (inline)
and ``$$`` (display) in the browser, offline. Every report page inlines its CSS and JavaScript
and embeds its ``woff2`` fonts as ``data:`` URIs (about 0.7 MB), so the page needs no file
and no network for its math; a single-file report also embeds its figures.

Theory pages: each family's section links to its page in the documentation. The link is, in
order: the template given to :func:`theory_links` (``{family}`` replaced; ``--theory-url`` on
the command line), ``$ATTNLAB_THEORY_URL``, the page of a built documentation site of the
source tree attnlab runs from (``site/theory/<family>/index.html`` or
``docs/_build/html/theory/<family>.html``), its Markdown source (``docs/theory/<family>.md``),
else none.
"""

from __future__ import annotations

import base64
import os
import re
import struct
from importlib import resources
from pathlib import Path

__all__ = ["image_data_uri", "katex_head", "png_display_width", "theory_links"]

_FILES = ("katex.min.css", "katex.min.js", "contrib/auto-render.min.js")
_MIME = {"png": "image/png", "svg": "image/svg+xml", "woff2": "font/woff2"}
# the CSS px of one inch is 96; figures are shown 1.25× their printed size (screens are read
# from further away than paper), never wider than the column
_CSS_PX_PER_INCH = 96 * 1.25
_DEFAULT_DPI = 200.0

RENDER_MATH = """
document.addEventListener("DOMContentLoaded", function () {
  if (typeof renderMathInElement !== "function") { return; }
  renderMathInElement(document.body, {
    delimiters: [
      {left: "$$", right: "$$", display: true},
      {left: "$", right: "$", display: false},
      {left: "\\\\(", right: "\\\\)", display: false}
    ],
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code"],
    throwOnError: false
  });
  document.body.setAttribute("data-math", "typeset");
});
"""


def _katex_root() -> resources.abc.Traversable:
    return resources.files("attnlab").joinpath("_assets", "katex")


def _embedded_css() -> str:
    """``katex.min.css`` with each font's sources replaced by its woff2 as a data URI."""
    root = _katex_root()
    css = root.joinpath("katex.min.css").read_text()

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        data = base64.b64encode(root.joinpath("fonts", f"{name}.woff2").read_bytes()).decode()
        return f'src:url(data:font/woff2;base64,{data}) format("woff2")'

    return re.sub(r"src:url\(fonts/([\w-]+)\.woff2\)[^;}]*", inline, css)


def katex_head() -> str:
    """The ``<head>`` elements that hold KaTeX (inline) and typeset the page's math on load."""
    root = _katex_root()
    scripts = "".join(f"<script>{root.joinpath(name).read_text()}</script>" for name in _FILES[1:])
    return f"<style>{_embedded_css()}</style>{scripts}<script>{RENDER_MATH}</script>"


def image_data_uri(path: Path) -> str:
    """A ``data:`` URI of a PNG or SVG file."""
    mime = _MIME[path.suffix.lower().lstrip(".")]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def png_display_width(path: Path) -> int | None:
    """CSS width (px) at which a PNG shows 1.25× its printed size: pixels / dpi × 120.

    The dpi comes from the PNG's ``pHYs`` chunk (matplotlib writes it), else 200.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width = struct.unpack(">I", head[16:20])[0]
    dpi = _DEFAULT_DPI
    at = head.find(b"pHYs")
    if at >= 0:
        ppu_x, _, unit = struct.unpack(">IIB", head[at + 4 : at + 13])
        if unit == 1 and ppu_x > 0:  # pixels per metre
            dpi = ppu_x * 0.0254
    return round(width / dpi * _CSS_PX_PER_INCH)


def _source_tree() -> Path | None:
    """The repository attnlab runs from (``src/attnlab`` two levels under a pyproject)."""
    import attnlab

    root = Path(attnlab.__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _local_page(root: Path, family: str) -> Path | None:
    for name in dict.fromkeys((family, family.replace("_", "-"))):
        for page in (
            root / "site" / "theory" / name / "index.html",
            root / "site" / "theory" / f"{name}.html",
            root / "docs" / "_build" / "html" / "theory" / f"{name}.html",
            root / "docs" / "theory" / f"{name}.md",
        ):
            if page.is_file():
                return page
    return None


def theory_links(
    families: list[str], report_dir: Path, template: str | None = None, *, absolute: bool = False
) -> dict[str, str]:
    """``{family: link}`` to each family's theory page (module docstring for the order).

    Local pages are linked relative to ``report_dir`` (so results inside the repository keep
    their links when moved with it), or as ``file://`` URIs when ``absolute`` (a single-file
    report travels alone).
    """
    template = template or os.environ.get("ATTNLAB_THEORY_URL") or None
    if template:
        return {f: template.replace("{family}", f) for f in families}
    root = _source_tree()
    links: dict[str, str] = {}
    for family in families:
        page = _local_page(root, family) if root is not None else None
        if page is None:
            continue
        if absolute:
            links[family] = page.as_uri()
        else:
            links[family] = Path(os.path.relpath(page, report_dir.resolve())).as_posix()
    return links
