"""The experiment registry: a config class + a run function + a plot function, by name.

A model family registers its experiments in any module of its subpackage whose name starts with
``experiments`` (``attnlab/<family>/experiments.py``, ``experiments_erf.py``, …); the registry
discovers them on first use, so adding a family means adding a subpackage, nothing else::

    @experiment(
        "subspace-alignment",
        config=AlignmentConfig,
        description="30 SGA runs at theta=0.25, M=10^4: final alignment |<q,u>|",
        quick={"n_seeds": 4, "steps": 2000},
        plot=plot_alignment,
    )
    def run_alignment(config: AlignmentConfig) -> Result: ...

``run`` returns a :class:`Result`: a tidy long table (one row per observation), headline
``summary`` numbers, and ``comparisons`` — theory against simulation rows, each with the
tolerance the experiment declares (derived from the finite-size error) and a pass flag.
``plot(result, config)`` returns ``{name: matplotlib Figure}``; the store saves PNG and PDF.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attnlab._validate import ParameterError
from attnlab.config import ExperimentConfig, build_config

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True)
class Comparison:
    """One theory-vs-simulation row.

    ``passed`` is ``|simulation - theory| <= tolerance``. ``where`` names the parameter point
    (``"ell=2.0"``), ``simulation_sd`` the spread over seeds when there is one, ``note`` the
    reason behind the tolerance (finite-size error estimate).
    """

    quantity: str
    theory: float
    simulation: float
    tolerance: float
    where: str = ""
    simulation_sd: float | None = None
    note: str = ""

    @property
    def difference(self) -> float:
        return float(self.simulation) - float(self.theory)

    @property
    def passed(self) -> bool:
        return abs(self.difference) <= float(self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "where": self.where,
            "theory": float(self.theory),
            "simulation": float(self.simulation),
            "simulation_sd": None if self.simulation_sd is None else float(self.simulation_sd),
            "difference": self.difference,
            "tolerance": float(self.tolerance),
            "passed": self.passed,
            "note": self.note,
        }


@dataclass
class Result:
    """What an experiment's run function returns.

    table:        tidy long-format ``pandas.DataFrame`` (saved as ``results.parquet``);
    summary:      headline numbers, JSON-serialisable (saved in ``summary.json``);
    comparisons:  theory-vs-simulation rows with declared tolerances (also in ``summary.json``);
    seeds:        the replicate seeds / indices actually used (recorded in ``manifest.json``).
    """

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)


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
    config: type[ExperimentConfig],
    description: str,
    plot: PlotFn | None = None,
    quick: Mapping[str, Any] | None = None,
    family: str | None = None,
) -> Callable[[Callable[[Any], Result]], Callable[[Any], Result]]:
    """Decorator registering ``fn(config) -> Result`` as experiment ``name``."""

    def register(fn: Callable[[Any], Result]) -> Callable[[Any], Result]:
        if family:
            fam = family
        elif fn.__module__.startswith("attnlab."):
            fam = fn.__module__.split(".")[1]
        else:
            fam = "user"
        if name in _REGISTRY and _REGISTRY[name].run.__qualname__ != fn.__qualname__:
            raise ValueError(f"experiment {name!r} is already registered")
        # the quick preset must itself be a valid config: fail at import, not at run time
        build_config(config, dict(quick or {}))
        _REGISTRY[name] = Experiment(
            name=name,
            family=fam,
            description=description,
            config_cls=config,
            run=fn,
            plot=plot,
            quick=dict(quick or {}),
        )
        return fn

    return register


def discover() -> None:
    """Import every ``attnlab.<family>.experiments*`` module (once)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import attnlab

    for pkg in pkgutil.iter_modules(attnlab.__path__):
        if not pkg.ispkg:
            continue
        sub = importlib.import_module(f"attnlab.{pkg.name}")
        for mod in pkgutil.iter_modules(sub.__path__):
            if mod.name.startswith("experiments"):
                importlib.import_module(f"attnlab.{pkg.name}.{mod.name}")
    _DISCOVERED = True


def all_experiments() -> dict[str, Experiment]:
    """Every registered experiment, by name (sorted by family, then name)."""
    discover()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].family, kv[0])))


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (one-line error listing the known names otherwise)."""
    exps = all_experiments()
    if name not in exps:
        raise ParameterError(f"unknown experiment {name!r}; known: {', '.join(exps)}")
    return exps[name]
