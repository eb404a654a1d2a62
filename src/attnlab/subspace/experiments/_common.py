"""Pieces shared by the subspace experiments: the SGA part of a config, its cost, tidy tables."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from attnlab.compare import Comparison, Dropped, Result
from attnlab.config import Cost, ExperimentConfig, Params
from attnlab.rng import replicate_keys, root_key, stream
from attnlab.subspace import (
    Full,
    Reduced,
    RobbinsMonro,
    Schedule,
    SubspaceModel,
    Trajectory,
    simulate,
    simulate_groups,
)

# floating-point operations per token and step of the reduced simulator (3 normal draws at
# ~40 flops each, ~30 flops of arithmetic) and per token coordinate of the full one
REDUCED_FLOPS_PER_TOKEN = 150.0
FULL_FLOPS_PER_COORDINATE = 60.0
# Monte-Carlo draws of φ cost about as much per token as a reduced step
MC_FLOPS_PER_TOKEN = REDUCED_FLOPS_PER_TOKEN


class NestedDefaults(ExperimentConfig):
    """A config whose nested parameter objects are overridden field by field *on top of the
    config's own default* (``--set theta=0.3`` keeps the other fields of this experiment's
    default model, rather than those of a bare ``SubspaceModel()``)."""

    @model_validator(mode="before")
    @classmethod
    def _nested_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            default, given = info.default, data.get(name)
            if isinstance(default, Params) and isinstance(given, dict):
                out[name] = {**default.to_dict(), **given}
        return out


def check_log_grid(config: ExperimentConfig, every: str) -> None:
    """Refuse a config whose field ``every`` does not divide its ``steps`` (the logs of a run
    are on a regular grid of steps)."""
    value = getattr(config, every)
    if config.steps % value:
        raise ValueError(f"{every} = {value} must divide steps = {config.steps} (regular log grid)")


class SGAConfig(NestedDefaults):
    """The SGA runs of an experiment: model, seeds, steps, schedule, simulator."""

    model: SubspaceModel = SubspaceModel()
    n_seeds: int = Field(30, ge=2, description="independent runs")
    steps: int = Field(1000, ge=1, description="SGA steps")
    schedule: RobbinsMonro = RobbinsMonro()
    batch: int = Field(1, ge=1, description="mini-batch size B")
    log_every: int = Field(10, ge=1, description="log m_n every r steps")
    simulator: Literal["reduced", "full"] = Field(
        "reduced", description="reduced: exact in law, O(N) per step; full: O(N·d) per step"
    )
    dtype: Literal["float32", "float64"] = Field("float32", description="simulation precision")

    @model_validator(mode="after")
    def _log_grid(self) -> SGAConfig:
        check_log_grid(self, "log_every")
        return self

    def simulator_object(self) -> Full | Reduced:
        """The simulator strategy object of this config."""
        cls = Reduced if self.simulator == "reduced" else Full
        return cls(dtype=self.dtype)

    def sga_cost(self, n_seeds: int | None = None, steps: int | None = None) -> Cost:
        """Memory and work of the SGA runs (``n_seeds`` runs of ``steps`` steps)."""
        return sga_cost(
            self.model,
            self.n_seeds if n_seeds is None else n_seeds,
            self.steps if steps is None else steps,
            batch=self.batch,
            simulator=self.simulator,
            itemsize=4 if self.dtype == "float32" else 8,
        )


def sga_cost(
    model: SubspaceModel, n_seeds: int, steps: int, *, batch: int, simulator: str, itemsize: int
) -> Cost:
    """Peak memory and flops of ``n_seeds`` SGA runs: per step the reduced simulator holds ~12
    arrays of B·N numbers per seed, the full one the B sequences of N·d numbers (and their
    products)."""
    per_step = n_seeds * batch * model.N
    if simulator == "reduced":
        return Cost(
            12.0 * per_step * itemsize,
            REDUCED_FLOPS_PER_TOKEN * per_step * steps,
            f"{n_seeds} seeds × {batch * model.N} tokens × {steps} steps (reduced)",
        )
    return Cost(
        3.0 * per_step * model.d * itemsize,
        FULL_FLOPS_PER_COORDINATE * per_step * model.d * steps,
        f"{n_seeds} seeds × {batch * model.N} tokens × d={model.d} × {steps} steps (full)",
    )


def mc_cost(model: SubspaceModel, n_samples: int, n_grid: int = 1) -> Cost:
    """Memory and flops of a Monte-Carlo φ or pole-noise estimate (chunks of ≥ 1 draw)."""
    from attnlab.subspace._phi import mc_chunk

    chunk = mc_chunk(model, n_grid, n_samples)
    per_draw = model.N + n_grid * model.K
    return Cost(
        4.0 * 8 * chunk * per_draw,
        MC_FLOPS_PER_TOKEN * n_samples * per_draw,
        f"{n_samples} Monte-Carlo draws × ({model.N} + {n_grid} × {model.K}) tokens",
    )


def total_cost(*costs: Cost) -> Cost:
    """Costs of parts run one after the other: the largest memory, the summed flops."""
    peak = max(costs, key=lambda c: c.memory_bytes)
    return Cost(peak.memory_bytes, sum(c.flops for c in costs), peak.what)


def side_by_side_cost(*costs: Cost) -> Cost:
    """Costs of parts run at the same time (in threads): the summed memory and flops."""
    return Cost(
        sum(c.memory_bytes for c in costs),
        sum(c.flops for c in costs),
        " beside ".join(c.what for c in costs),
    )


POINTS_AT_ONCE = 2  # independent points of a sweep run side by side (threads), at most this many


def run_sga(
    config: SGAConfig,
    *,
    model: SubspaceModel | None = None,
    n_seeds: int | None = None,
    steps: int | None = None,
    schedule: RobbinsMonro | None = None,
) -> Trajectory:
    """SGA runs of the config (replicates 0..n_seeds−1 of ``config.seed``)."""
    keys = replicate_keys(config.seed, config.n_seeds if n_seeds is None else n_seeds)
    return simulate(
        config.model if model is None else model,
        keys,
        steps=config.steps if steps is None else steps,
        schedule=config.schedule if schedule is None else schedule,
        simulator=config.simulator_object(),
        batch=config.batch,
        log_every=config.log_every,
    )


def run_sga_groups(
    config: SGAConfig,
    groups: list[tuple[SubspaceModel, int]] | list[tuple[SubspaceModel, int, Schedule]],
    **over: Any,
) -> list[Trajectory]:
    """SGA runs of several models (and schedules) sharing (d, K, M, sign) in one compiled call:
    group g runs replicates 0..n_g−1 of ``config.seed`` with its model and its schedule (default
    the config's); one trajectory per group. Groups share their replicates' random numbers
    (:func:`attnlab.subspace.simulate_groups`), drawn once."""
    schedule = over.get("schedule", config.schedule)
    return simulate_groups(
        [
            (g[0], replicate_keys(config.seed, g[1]), g[2] if len(g) > 2 else schedule)
            for g in groups
        ],
        steps=over.get("steps", config.steps),
        simulator=config.simulator_object(),
        batch=config.batch,
        log_every=config.log_every,
    )


def theory_key(config: ExperimentConfig, tag: str | None = None) -> Any:
    """The key of the theory's Monte-Carlo streams (``stream(root, "theory")``, disjoint from the
    SGA replicates), or of its sub-stream ``tag``."""
    key = stream(root_key(config.seed), "theory")
    return key if tag is None else stream(key, tag)


def long_table(method: str, step: Any, time: Any, abs_m: Any, **extra: Any) -> pd.DataFrame:
    """Tidy table of |m| for seeds × logged steps (``abs_m`` of shape (S, L))."""
    abs_m = np.atleast_2d(np.asarray(abs_m, dtype=float))
    S, L = abs_m.shape
    return pd.DataFrame(
        {
            "method": method,
            "seed": np.repeat(np.arange(S), L),
            "step": np.tile(np.asarray(step), S),
            "time": np.tile(np.asarray(time, dtype=float), S),
            "abs_m": abs_m.ravel(),
            **extra,
        }
    )


def pca_cost(model: SubspaceModel, seeds: int, steps: int, log_every: int, simulator: str) -> Cost:
    """The PCA baseline: d×d second moments per seed; the reduced law costs O(d³) per logged
    block, the tokens themselves O(N·d²) per step."""
    d, blocks = model.d, steps // log_every
    if simulator == "reduced":
        return Cost(
            4.0 * seeds * d * d * 8, 30.0 * seeds * blocks * d**3, f"{seeds} PCA runs, d={d}"
        )
    return Cost(
        seeds * (2.0 * d * d + model.N * d) * 8,
        2.0 * seeds * steps * model.N * d * d + 10.0 * seeds * blocks * d**3,
        f"{seeds} PCA runs × {steps} sequences of {model.N}×{d} tokens",
    )


def equator_theory(model: SubspaceModel) -> dict[str, Any]:
    """φ″(0) and the escape time log(d)/(2φ″(0)) of the closed form, where they exist."""
    from attnlab.subspace import closed_form_valid, escape_time, phi_second_at_zero

    if not model.symmetric or not closed_form_valid(model, 0.0)[0]:
        return {"phi2_at_zero": None, "escape_time_theory": None}
    phi2 = phi_second_at_zero(model)
    return {"phi2_at_zero": phi2, "escape_time_theory": escape_time(model) if phi2 > 0 else None}


def sga_result(
    config: SGAConfig,
    table: pd.DataFrame,
    summary: dict[str, Any],
    comparisons: list[Comparison],
    dropped: list[Dropped],
) -> Result:
    """The :class:`Result` of an experiment over seeds ``0, ..., n_seeds − 1`` (summary made
    JSON-ready by :func:`json_ready`)."""
    return Result(
        table=table,
        summary=json_ready(summary),
        comparisons=comparisons,
        seeds=list(range(config.n_seeds)),
        dropped=dropped,
    )


def json_ready(summary: dict[str, Any]) -> dict[str, Any]:
    """Numbers as plain floats (NaN and ±inf as None), recursively, so summary.json is JSON."""
    from attnlab.compare import finite_or_none

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if isinstance(v, int | np.integer):
            return int(v)
        if isinstance(v, float | np.floating):
            return finite_or_none(v)
        return v

    return clean(summary)


ESCAPE_LEVEL = 0.5  # a run has left the equator once |m| ≥ 1/2

# Monte-Carlo draws of the pole theory: E_g, the pole gradient's mean squared norm, is
# heavy-tailed (per-draw sd ≈ 12 for a mean ≈ 3.1 at the headline model)
TheorySamples = Annotated[
    int, Field(ge=16, description="Monte-Carlo draws of the pole theory (E_g is heavy-tailed)")
]


def set_aside(keep: Any, reason: str, *, max_excluded: float = 0.1) -> tuple[np.ndarray, str]:
    """The runs kept in a comparison (``keep``) and a phrase saying how many were set aside and
    why (empty when none). When more than ``max_excluded`` of the runs (and more than one) would
    be set aside, every run is kept: a systematic departure must show in the comparison, not be
    filtered out of it."""
    keep = np.asarray(keep, dtype=bool)
    below, n = int(np.sum(~keep)), len(keep)
    if below == 0:
        return keep, ""
    if below > max(1, max_excluded * n):
        return np.ones_like(keep), f"all {n} runs ({below} {reason}: too many to set aside)"
    return keep, f"{n - below} of {n} runs ({below} {reason}, set aside)"


def left_equator(abs_m: Any, *, max_excluded: float = 0.1) -> tuple[np.ndarray, str]:
    """The runs compared with a theory of the pole: those whose |m| is at least 1/2 (at every
    column of ``abs_m``, shape (runs,) or (runs, steps)), and a phrase saying how many
    (:func:`set_aside`). A run that the early steps left near the equator escapes late
    (``escape_law``); it is counted, not averaged with the runs at the pole.
    """
    abs_m = np.asarray(abs_m)
    keep = np.all(abs_m.reshape(abs_m.shape[0], -1) >= ESCAPE_LEVEL, axis=1)
    return set_aside(keep, "still below |m| = 1/2", max_excluded=max_excluded)
