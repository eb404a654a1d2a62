"""The docs build's own helpers: docstring math conversion and the offline check can fail."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"attnlab_{name}", ROOT / "scripts" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rst_math_and_roles_become_markdown():
    pytest.importorskip("griffe")
    convert = _load("griffe_attnlab").rst_to_markdown
    text = (
        "Mean.\n\n.. math::\n\n    \\bar x = \\frac{1}{n}\n    \\sum_i x_i\n\n"
        "Parameters\n----------\nx : int\n    See :func:`~attnlab.rng.stream`, :math:`\\theta`.\n\n"
        "    .. math:: a = b\ny : int\n    Why."
    )
    assert convert(text) == (
        "Mean.\n\n$$\n\\bar x = \\frac{1}{n}\n\\sum_i x_i\n$$\n\n"
        "Parameters\n----------\nx : int\n    See `attnlab.rng.stream`, $\\theta$.\n\n"
        "    $$\n    a = b\n    $$\n\ny : int\n    Why."
    )
    assert convert("no rst here") == "no rst here"


@pytest.mark.parametrize(
    ("text", "remote"),
    [
        ('<script src="https://cdn.example/katex.js"></script>', True),
        ("<link rel='stylesheet' href='//fonts.example/css'>", True),
        ('<img src="http://example/x.png">', True),
        ('<script src="../assets/katex/katex.min.js"></script>', False),
        ('<a href="https://arxiv.org/abs/2410.01537">paper</a>', False),  # a link, not a load
    ],
)
def test_offline_check_finds_remote_resources(text, remote):
    pytest.importorskip("mkdocs")
    hooks = _load("docs_hooks")
    assert bool(hooks._REMOTE_IN_HTML.search(text)) is remote
    assert hooks._REMOTE_IN_CSS.search("@font-face{src:url(https://x/y.woff2)}")
    assert not hooks._REMOTE_IN_CSS.search("@font-face{src:url(fonts/KaTeX_Main-Regular.woff2)}")
