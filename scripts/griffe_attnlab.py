"""Griffe extension of the docs build: what the API reference needs from attnlab's sources.

1. reStructuredText in numpydoc docstrings becomes the site's Markdown: ``.. math::`` blocks
   become display math (``$$ ... $$``), ``:math:`x``` inline math (``$x$``), both typeset by
   KaTeX; cross-reference roles (``:func:`name```, ``:class:`~a.B```) become code spans.
2. Signatures of the ``Params`` classes (below).

Model objects, strategy objects and experiment configs derive from ``attnlab.config.Params``
(a frozen pydantic model): they are built with keyword arguments, one per field, but their
``__init__`` is pydantic's ``(**data)``. This extension gives each such class, in the API
reference only, the signature ``Cls(*, field: type = default, ...)`` read from its annotated
fields (those of its attnlab base classes included), so the documented signature is the real
one and the numpydoc ``Parameters`` section of the class is checked against it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

PARAMS = "attnlab.config.Params"


def _field_default(value: Any) -> str | griffe.Expr | None:
    """The default of ``name: T = value``: the first argument of ``Field(...)``, or the value."""
    if isinstance(value, griffe.ExprCall) and str(value.function).split(".")[-1] == "Field":
        positional = [a for a in value.arguments if not isinstance(a, griffe.ExprKeyword)]
        if positional:
            return positional[0]
        for arg in value.arguments:
            if isinstance(arg, griffe.ExprKeyword) and arg.name == "default_factory":
                return f"{arg.value}()"
        return None  # a required field
    return value


def _fields(cls: griffe.Class) -> dict[str, griffe.Attribute]:
    """Annotated, public, non-ClassVar attributes of ``cls`` and its attnlab bases (MRO order)."""
    found: dict[str, griffe.Attribute] = {}
    for klass in [*reversed(cls.mro()), cls]:
        if not klass.path.startswith("attnlab.") or klass.path == PARAMS:
            continue
        for name, member in klass.members.items():
            if member.is_alias or not member.is_attribute or name.startswith("_"):
                continue
            annotation = str(member.annotation or "")
            if member.annotation is None or "ClassVar" in annotation:
                continue
            found[name] = member
    return found


def _is_params(cls: griffe.Class) -> bool:
    try:
        return any(base.path == PARAMS for base in cls.mro())
    except (griffe.AliasResolutionError, griffe.CyclicAliasError, ValueError):
        return False


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    out = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            out.append(member)
        if member.is_module or member.is_class:
            out.extend(_classes(member))
    return out


_MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<rest>.*)$")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const):`~?([^`]+)`")


def rst_to_markdown(text: str) -> str:
    """Turn the reStructuredText math and cross-reference roles of a docstring into Markdown."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match["indent"]
        body = [match["rest"]] if match["rest"].strip() else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        while body and not body[0]:
            body.pop(0)
        out += [f"{indent}$$", *(f"{indent}{b}" for b in body), f"{indent}$$"]
        if i < len(lines):
            out.append("")
    text = "\n".join(out)
    text = _MATH_ROLE.sub(lambda m: f"${m[1]}$", text)
    return _XREF_ROLE.sub(lambda m: f"`{m[1]}`", text)


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    out = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        out.append(member)
        if member.is_module or member.is_class:
            out.extend(_objects(member))
    return out


class AttnlabDocs(griffe.Extension):
    """Markdown math in docstrings; a keyword-only ``__init__`` for every ``Params`` subclass."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "attnlab":
            return
        for obj in [pkg, *_objects(pkg)]:
            if obj.docstring is not None:
                obj.docstring.value = rst_to_markdown(obj.docstring.value)
        for cls in _classes(pkg):
            if not _is_params(cls) or "__init__" in cls.members:
                continue
            parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
            for name, attr in _fields(cls).items():
                parameters.append(
                    griffe.Parameter(
                        name,
                        annotation=attr.annotation,
                        kind=griffe.ParameterKind.keyword_only,
                        default=_field_default(attr.value),
                    )
                )
            init = griffe.Function("__init__", parameters=griffe.Parameters(*parameters))
            cls.set_member("__init__", init)
