"""MkDocs hooks of attnlab's documentation site (loaded by ``mkdocs.yml``).

- KaTeX: the renderer that ships with attnlab (``src/attnlab/_assets/katex``) is added to the
  site as ``assets/katex/``, so the site and the HTML report typeset math with the same files and
  nothing is fetched from a CDN.
- Gallery: the ``<!-- attnlab:examples -->`` marker of ``examples.md`` becomes one section per
  ``examples/*_quickstart.py``: the script, included as code, and the figure it writes
  (``docs/gallery/examples/<script stem>.png``, made by ``bash scripts/docs --gallery``).
- Command line: the ``<!-- attnlab:cli-help -->`` marker of ``cli.md`` becomes the ``--help``
  of ``attnlab`` and of each of its commands, as the installed attnlab prints it (so the page
  cannot drift from the code).
- Experiments: a ``<!-- attnlab:experiments FAMILY -->`` marker becomes the table of the
  experiments registered for that family (name and one-line description), from the registry.
- Snippets: the ``<!-- attnlab:snippets -->`` marker becomes every ``docs/snippets/*.py`` (the
  scripts the README shows, each run by a test), in the README's order.
- Offline check: after the build, any ``http(s)://`` script, stylesheet, font or image that a
  page or a stylesheet of the site would load fails the build.

Every problem raises ``PluginError``: the build stops with one line saying what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
KATEX = ROOT / "src" / "attnlab" / "_assets" / "katex"
KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
EXAMPLES = ROOT / "examples"
EXAMPLE_FIGURES = "gallery/examples"  # under docs/
EXAMPLES_MARKER = "<!-- attnlab:examples -->"
CLI_MARKER = "<!-- attnlab:cli-help -->"
SNIPPETS_MARKER = "<!-- attnlab:snippets -->"
EXPERIMENTS_MARKER = re.compile(r"<!-- attnlab:experiments (\w+) -->")

# a resource the browser would fetch by itself: <script src>, <link href> (stylesheets, fonts,
# icons, preloads), <img src>/<source src>, and url(...) in CSS
_REMOTE_IN_HTML = re.compile(
    r"<(?:script|img|source|iframe|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)
_REMOTE_IN_CSS = re.compile(r"url\(\s*[\"']?\s*(?:https?:)?//|@import\s+[\"']?(?:https?:)?//")


def on_files(files: Files, config: Any) -> Files:
    """Add the vendored KaTeX (scripts, stylesheet, woff2 fonts) under ``assets/katex/``."""
    missing = [name for name in KATEX_FILES if not (KATEX / name).is_file()]
    fonts = sorted((KATEX / "fonts").glob("*.woff2"))
    if missing or not fonts:
        raise PluginError(
            f"KaTeX is missing from {KATEX.relative_to(ROOT)} "
            f"({', '.join(missing) or 'fonts/*.woff2'}): the docs typeset math with it"
        )
    paths = [KATEX / name for name in KATEX_FILES] + fonts + [KATEX / "LICENSE"]
    for path in paths:
        rel = path.relative_to(KATEX.parent).as_posix()  # katex/...
        files.append(
            File(
                rel,
                src_dir=str(KATEX.parent),
                dest_dir=str(Path(config["site_dir"]) / "assets"),
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def _example_sections(docs_dir: Path) -> str:
    scripts = sorted(EXAMPLES.glob("*_quickstart.py"))
    if not scripts:
        raise PluginError("no examples/*_quickstart.py to show in the gallery")
    parts = []
    for script in scripts:
        figure = docs_dir / EXAMPLE_FIGURES / f"{script.stem}.png"
        if not figure.is_file():
            raise PluginError(
                f"the gallery has no figure for examples/{script.name}: run "
                f"`bash scripts/docs --gallery` to make docs/{EXAMPLE_FIGURES}/{figure.name}"
            )
        doc = (script.read_text().split('"""')[1:2] or [""])[0].strip().splitlines()
        title = doc[0].rstrip(".") if doc else script.stem
        parts.append(
            f"## `{script.name}`\n\n{title}.\n\n"
            f"![{script.stem}]({EXAMPLE_FIGURES}/{figure.name})\n\n"
            f'??? example "examples/{script.name}"\n\n'
            f'    ```python\n    --8<-- "examples/{script.name}"\n    ```\n'
        )
    return "\n".join(parts)


def _cli_help() -> str:
    """``attnlab --help`` and ``attnlab COMMAND --help`` for every command, as Markdown."""
    import typer
    from typer.testing import CliRunner

    from attnlab.cli import app

    group = typer.main.get_command(app)
    runner = CliRunner()
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    parts = []
    for name in [None, *group.commands]:
        args = ["--help"] if name is None else [name, "--help"]
        result = runner.invoke(app, args, env=env, prog_name="attnlab")
        if result.exit_code != 0:
            raise PluginError(f"attnlab {' '.join(args)} failed: {result.output[-300:]}")
        title = "attnlab" if name is None else f"attnlab {name}"
        text = "\n".join(line.rstrip() for line in result.output.splitlines()).strip("\n")
        parts.append(f"### `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def _experiments_table(family: str) -> str:
    """The registered experiments of ``family`` as a Markdown table."""
    from attnlab.registry import all_experiments

    rows = [exp for exp in all_experiments().values() if exp.family == family]
    if not rows:
        raise PluginError(f"no experiment is registered for the family {family!r}")
    lines = ["| experiment | what it puts side by side |", "|---|---|"]
    pipe = "\\|"  # a literal | inside a table cell
    lines += [f"| `{exp.name}` | {exp.description.replace('|', pipe)} |" for exp in rows]
    return "\n".join(lines)


def _snippets() -> str:
    """Every docs/snippets/*.py with its title, as in the README."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "attnlab_readme_snippets", ROOT / "scripts" / "readme_snippets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parts = []
    for path in module.snippet_files():
        title = module.TITLES.get(path.stem, f"`{path.stem}`")
        rel = path.relative_to(ROOT).as_posix()
        parts.append(f'### {title}\n\n```python\n--8<-- "{rel}"\n```\n')
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Expand the markers: example scripts and figures, CLI help, experiment tables."""
    markdown = EXPERIMENTS_MARKER.sub(lambda m: _experiments_table(m[1]), markdown)
    if EXAMPLES_MARKER in markdown:
        markdown = markdown.replace(EXAMPLES_MARKER, _example_sections(Path(config["docs_dir"])))
    if SNIPPETS_MARKER in markdown:
        markdown = markdown.replace(SNIPPETS_MARKER, _snippets())
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, _cli_help())
    return markdown


def on_post_build(config: Any) -> None:
    """Fail when a built page or stylesheet would load anything from the network."""
    site = Path(config["site_dir"])
    offenders = []
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            text = path.read_text(errors="replace")
            pattern = _REMOTE_IN_HTML
        elif path.suffix == ".css":
            text = path.read_text(errors="replace")
            pattern = _REMOTE_IN_CSS
        else:
            continue
        match = pattern.search(text)
        if match:
            offenders.append(f"{path.relative_to(site)}: {match.group(0)[:80]!r}")
    if offenders:
        raise PluginError(
            "the site would load resources from the network (it must work offline): "
            + "; ".join(offenders[:5])
        )
