"""The two-line model summary of a family, shown at the top of its section of the report.

In order of preference: the ``MODEL_SUMMARY`` string of the family subpackage
``attnlab.<family>`` (shown as written; TeX between ``$`` is typeset in the HTML report), the
first paragraph of its module docstring plus a paragraph starting ``Model:`` if there is one,
else — when the first paragraph is a short title — the next prose paragraph (lists and module
maps skipped); cut to about two lines at a sentence end. Otherwise a neutral placeholder.
"""

from __future__ import annotations

import importlib

__all__ = ["NO_SUMMARY", "clip", "model_summary"]

SUMMARY_CHARS = 400  # about two lines of the report
SUMMARY_MIN_CHARS = 150  # a first paragraph shorter than this is completed by the next one
NO_SUMMARY = "(no model summary: the family defines neither MODEL_SUMMARY nor a module docstring)"


def model_summary(family: str) -> str:
    """Two lines on what the family's model is (see module docstring for the sources)."""
    try:
        mod = importlib.import_module(f"attnlab.{family}")
    except Exception:
        return NO_SUMMARY
    text = getattr(mod, "MODEL_SUMMARY", None)
    if isinstance(text, str) and text.strip():
        return " ".join(text.split())
    doc = (mod.__doc__ or "").strip()
    if not doc:
        return NO_SUMMARY
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    prose = [p for p in paragraphs[1:] if not _is_markup(p)]
    picked = [paragraphs[0]]
    model = [p for p in prose if p.lower().startswith("model:")][:1]
    if model:
        picked += model
    elif prose and len(paragraphs[0]) < SUMMARY_MIN_CHARS:
        picked.append(prose[0])  # a short title: add the next prose paragraph (the model)
    return clip(" ".join(picked), SUMMARY_CHARS)


def _is_markup(paragraph: str) -> bool:
    """Lists, module maps, code blocks: not prose for a summary."""
    return (
        paragraph.startswith(("-", "*", ">>>", "..")) or "::" in paragraph or ":mod:" in (paragraph)
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a sentence end when there is one."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    end = head.rfind(". ")
    if end > limit // 3:
        return head[: end + 1]
    if head.count("``") % 2:  # do not cut inside an RST literal
        head = head[: head.rfind("``")]
    if head.count("$") % 2:  # nor inside TeX math
        head = head[: head.rfind("$")]
    return head.rstrip(" ,;:") + "…"
