"""Keep the README's Python API examples equal to the files under ``docs/snippets/``.

Each ``docs/snippets/<family>.py`` is a short script (about ten lines) written with the family's
model object and one key; the family's tests run it as written. The README shows all of them,
between two markers, as this script generates them:

    python scripts/readme_snippets.py --write   # regenerate the README's snippet section
    python scripts/readme_snippets.py --check   # exit 1 if the README is out of date

Adding a family's snippet is adding its file and running ``--write``; ``tests/docs`` fails
with that instruction when the README and the files differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SNIPPETS = ROOT / "docs" / "snippets"
BEGIN = "<!-- snippets:begin: generated from docs/snippets/*.py by scripts/readme_snippets.py -->"
END = "<!-- snippets:end -->"
# families first, in the order of the docs; any other snippet after them; the template last
TITLES = {
    "subspace": "Query learning on the sphere (`attnlab.subspace`)",
    "pooling": "Attention pooling and random matrices (`attnlab.pooling`)",
    "erf_slr": "Single-location regression, erf attention (`attnlab.erf_slr`)",
    "gslr": "Softmax vs linear attention (`attnlab.gslr`)",
    "demo": "The template family (`attnlab.demo`)",
}


def snippet_files() -> list[Path]:
    """The snippet files, in README order."""
    files = sorted(SNIPPETS.glob("*.py"))
    order = list(TITLES)

    def rank(path: Path) -> tuple[int, str]:
        if path.stem == "demo":
            return (len(order) + 1, path.stem)
        return (order.index(path.stem) if path.stem in order else len(order), path.stem)

    return sorted(files, key=rank)


def section() -> str:
    """The generated README section (markers included)."""
    parts = [BEGIN]
    for path in snippet_files():
        title = TITLES.get(path.stem, f"`{path.stem}`")
        code = path.read_text().rstrip("\n")
        rel = path.relative_to(ROOT).as_posix()
        parts.append(f"#### {title}\n\n<!-- snippet: {rel} -->\n```python\n{code}\n```")
    parts.append(END)
    return "\n\n".join(parts)


def current(text: str) -> str:
    """The README's section between the markers (markers included)."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"error: README.md has no snippet section ({BEGIN} ... {END})")
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the README section")
    mode.add_argument("--check", action="store_true", help="exit 1 if it is out of date")
    args = parser.parse_args()
    text = README.read_text()
    old, new = current(text), section()
    if args.check:
        if old != new:
            print("README.md's snippet section differs from docs/snippets/*.py: run")
            print("    python scripts/readme_snippets.py --write")
            return 1
        return 0
    README.write_text(text.replace(old, new))
    print(f"README.md: {len(snippet_files())} snippets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
