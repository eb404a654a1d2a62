"""The experiment registry: a config class + a run function + a plot function, by name.

A model family registers its experiments in the modules of its ``experiments`` subpackage
(``attnlab/<family>/experiments/<one file per experiment>.py``); the registry discovers them on
first use, so adding a family means adding a subpackage, nothing else (looking up one name
imports only the module whose source registers it; listing them all imports every family)::

    @experiment("subspace-alignment", quick={"n_seeds": 4, "steps": 2000}, plot=plot_alignment)
    def run_alignment(config: AlignmentConfig) -> Result: ...

The config class is the one annotating the run function's ``config`` parameter, and the
one-line description (``attnlab list``, the report) the first paragraph of its docstring, unless
``config=`` / ``description=`` name them.

``run`` returns a :class:`attnlab.compare.Result`: a tidy long table (one row per
observation), headline ``summary`` numbers, and ``comparisons`` — theory against simulation
rows, each with the tolerance the experiment declares (derived from the finite-size error).
``plot(result, config)`` returns ``{name: matplotlib Figure}``; the store saves the figures.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlab._validate import ParameterError
from attnlab.compare import Result
from attnlab.config import Cost, ExperimentConfig, build_config

__all__ = [
    "DiscoveryError",
    "Experiment",
    "all_experiments",
    "discover",
    "experiment",
    "get_experiment",
]

PlotFn = Callable[[Result, Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (see module docstring)."""

    name: str
    family: str
    description: str
    config_cls: type[ExperimentConfig]
    run: Callable[[Any], Result]
    plot: PlotFn | None = None
    quick: Mapping[str, Any] = field(default_factory=dict)

    def make_config(
        self, overrides: Mapping[str, Any] | None = None, *, quick: bool = False
    ) -> ExperimentConfig:
        """Defaults (full size), then the ``quick`` preset if asked, then ``overrides``."""
        values: dict[str, Any] = dict(self.quick) if quick else {}
        values.update(overrides or {})
        return build_config(self.config_cls, values)


_REGISTRY: dict[str, Experiment] = {}
_DISCOVERED = False


def experiment(
    name: str,
    *,
    config: type[ExperimentConfig] | None = None,
    description: str | None = None,
    plot: PlotFn | None = None,
    quick: Mapping[str, Any] | None = None,
    family: str | None = None,
) -> Callable[[Callable[[Any], Result]], Callable[[Any], Result]]:
    """Decorator registering ``fn(config) -> Result`` as experiment ``name``.

    ``config`` defaults to the class annotating ``fn``'s ``config`` parameter and
    ``description`` to the first paragraph of ``fn``'s docstring.
    """

    def register(fn: Callable[[Any], Result]) -> Callable[[Any], Result]:
        config_cls = config if config is not None else _annotated_config(name, fn)
        text = description if description is not None else _docstring_summary(name, fn)
        if family:
            fam = family
        elif fn.__module__.startswith("attnlab."):
            fam = fn.__module__.split(".")[1]
        else:
            fam = "user"
        if name in _REGISTRY and _REGISTRY[name].run.__qualname__ != fn.__qualname__:
            raise ValueError(f"experiment {name!r} is already registered")
        # the quick preset must itself be a valid config: fail at import, not at run time
        preset = build_config(config_cls, dict(quick or {}))
        _check_cost_implemented(name, fam, config_cls, preset)
        _REGISTRY[name] = Experiment(
            name=name,
            family=fam,
            description=text,
            config_cls=config_cls,
            run=fn,
            plot=plot,
            quick=dict(quick or {}),
        )
        return fn

    return register


def _annotated_config(name: str, fn: Callable[[Any], Result]) -> type[ExperimentConfig]:
    """The class annotating ``fn``'s ``config`` parameter (resolved in ``fn``'s module)."""
    try:
        hint = typing.get_type_hints(fn).get("config")
    except NameError:  # an annotation that does not resolve in fn's module
        hint = None
    if not (isinstance(hint, type) and issubclass(hint, ExperimentConfig)):
        raise TypeError(
            f"experiment {name!r}: annotate {fn.__name__}'s `config` parameter with its "
            "ExperimentConfig class, or pass config="
        )
    return hint


def _docstring_summary(name: str, fn: Callable[[Any], Result]) -> str:
    """The first paragraph of ``fn``'s docstring, on one line."""
    summary = " ".join((inspect.getdoc(fn) or "").split("\n\n")[0].split())
    if not summary:
        raise TypeError(
            f"experiment {name!r}: give {fn.__name__} a docstring (its description) "
            "or pass description="
        )
    return summary


def _check_cost_implemented(
    name: str, family: str, config: type[ExperimentConfig], preset: ExperimentConfig
) -> None:
    """Every experiment config estimates its cost (the runner refuses what cannot fit)."""
    if getattr(config, "cost", None) is ExperimentConfig.cost:
        raise TypeError(
            f"experiment {name!r}: {config.__name__} must implement cost() -> Cost "
            "(peak memory and work, checked before a run allocates anything)"
        )
    cost = preset.cost()
    if not isinstance(cost, Cost):
        raise TypeError(f"experiment {name!r}: {config.__name__}.cost() must return a Cost")


class DiscoveryError(ImportError):
    """A family's experiments could not be imported (one line: the module and the error)."""


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise DiscoveryError(
            f"cannot import {module} ({type(err).__name__}: {first}); "
            "its experiments are not available"
        ) from err


def discover() -> None:
    """Import every module of every ``attnlab.<family>.experiments`` package (once).

    A family's ``experiments`` may also be a single module, and modules named
    ``experiments_*.py`` are imported too.
    """
    global _DISCOVERED
    if _DISCOVERED:
        return
    for module, _ in _experiment_modules():
        _import(module)
    _DISCOVERED = True


_DECORATOR = re.compile(r"@experiment\(\s*[\"']([^\"']+)[\"']")


def _experiment_modules() -> list[tuple[str, Path]]:
    """Every module :func:`discover` imports, as (dotted name, source file), found on disk
    without importing anything (a family package's ``__init__`` may import jax)."""
    import attnlab

    found: list[tuple[str, Path]] = []
    for root in map(Path, attnlab.__path__):
        for pkg in pkgutil.iter_modules([str(root)]):
            if not pkg.ispkg:
                continue
            for mod in pkgutil.iter_modules([str(root / pkg.name)]):
                if not mod.name.startswith("experiments"):
                    continue
                dotted = f"attnlab.{pkg.name}.{mod.name}"
                if not mod.ispkg:
                    found.append((dotted, root / pkg.name / f"{mod.name}.py"))
                    continue
                for leaf in pkgutil.iter_modules([str(root / pkg.name / mod.name)]):
                    if not leaf.name.startswith("_"):
                        path = root / pkg.name / mod.name / f"{leaf.name}.py"
                        found.append((f"{dotted}.{leaf.name}", path))
    return found


def _module_registering(name: str) -> str | None:
    """The experiment module whose source registers ``name`` (``@experiment("name"``), read as
    text; None when no source says so (compiled-only installs, a name built at run time)."""
    for dotted, path in _experiment_modules():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if name in _DECORATOR.findall(text):
            return dotted
    return None


def all_experiments() -> dict[str, Experiment]:
    """Every registered experiment, by name (sorted by family, then name)."""
    discover()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].family, kv[0])))


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (one-line error listing the known names otherwise).

    Only the module that registers ``name`` is imported when its source says which one it is:
    running one experiment does not import the other families (about 2 s of imports per
    process: the command, each sweep worker). Any other name falls back to :func:`discover`.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if not _DISCOVERED:
        module = _module_registering(str(name))
        if module is not None:
            _import(module)
            if name in _REGISTRY:
                return _REGISTRY[name]
    exps = all_experiments()
    if name not in exps:
        close = difflib.get_close_matches(str(name), list(exps), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ParameterError(
            f"unknown experiment {name!r}{hint} (known: {', '.join(exps)}; see `attnlab list`)"
        )
    return exps[name]
