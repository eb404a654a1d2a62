"""``demo-mean``: the sample mean of n Gaussian draws against its N(μ, 1/n) law.

Pipeline: simulate (:func:`~attnlab.demo.sample_means` over seeds) → theory
(:func:`~attnlab.demo.mean_law`) → compare (mean and sd over seeds) → table.

The replicates are simulated in chunks reported to :mod:`attnlab.progress` (one chunk when
nobody listens): the pattern every long simulation follows, so the command line can show its
progress and ETA.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
from pydantic import Field

from attnlab import progress
from attnlab.compare import Comparison, Result, Tolerance
from attnlab.config import Cost, ExperimentConfig
from attnlab.demo import DemoModel, mean_law, sample_means
from attnlab.registry import experiment
from attnlab.rng import replicate_keys


class DemoMeanConfig(ExperimentConfig):
    """``n_seeds`` replicates of the mean of ``n`` draws of N(μ, 1)."""

    model: DemoModel = DemoModel()
    n: int = Field(1000, ge=1, description="draws per replicate")
    n_seeds: int = Field(200, ge=2, description="replicates")
    sleep_s: float = Field(
        0.0,
        ge=0,
        le=60,
        description="extra seconds the run sleeps (to exercise sweep engines and worker loss)",
    )

    def cost(self) -> Cost:
        return Cost(8.0 * self.n * self.n_seeds, float(self.n * self.n_seeds), "n × n_seeds")


def _plot(result: Result, config: DemoMeanConfig) -> dict:
    from attnlab import plot

    fig, ax = plot.subplots()
    means = result.table["mean"].to_numpy()
    mu, sd = mean_law(config.model, n=config.n)
    grid = np.linspace(means.min() - 0.5 * sd, means.max() + 0.5 * sd, 200)
    dens = np.exp(-((grid - mu) ** 2) / (2 * sd**2)) / (sd * math.sqrt(2 * math.pi))
    plot.histogram_vs_density(ax, means, grid, dens, bins=20, density_label=r"$N(\mu, 1/n)$")
    plot.finish(ax, xlabel=r"sample mean $\bar x$", ylabel="density", title=f"n = {config.n}")
    data = pd.DataFrame(
        {
            "curve": ["simulation"] * len(means) + ["theory"] * len(grid),
            "x": np.concatenate([means, grid]),
            "density": np.concatenate([np.full(len(means), np.nan), dens]),
        }
    )
    return {"histogram": plot.with_data(fig, data)}


def compare_moments(means: np.ndarray, mu: float, sd: float) -> list[Comparison]:
    """Mean and sd of the estimates over seeds against μ and 1/√n."""
    k = len(means)
    return [
        # the mean of k means has sd 1/sqrt(n k): 4 of those
        Comparison(
            "mean of estimates",
            mu,
            means.mean(),
            Tolerance(4 * sd / math.sqrt(k), f"4 SE of the mean over {k} seeds (theory sd)"),
            max_tolerance=sd,
        ),
        # the sample sd over k seeds has relative sd ~ 1/sqrt(2(k-1)): 4 of those
        Comparison(
            "sd of estimates",
            sd,
            means.std(ddof=1),
            Tolerance(4 * sd / math.sqrt(2 * (k - 1)), f"4 SE of a sample sd over {k} seeds"),
            max_tolerance=sd,
        ),
    ]


def _simulate(config: DemoMeanConfig) -> np.ndarray:
    """Sample means of the ``n_seeds`` replicates, in chunks reported as progress.

    Replicate ``i`` uses ``replicate_keys(seed, ·, start=i)``, so chunking changes no number;
    ``sleep_s`` is spread over the chunks.
    """
    parts, start = [], 0
    with progress.track("replicates", config.n_seeds) as bar:
        for size in progress.chunks(config.n_seeds):
            if config.sleep_s:
                time.sleep(config.sleep_s * size / config.n_seeds)
            keys = replicate_keys(config.seed, size, start=start)
            parts.append(sample_means(config.model, keys, n=config.n))
            start += size
            bar.advance(size)
    return np.concatenate(parts)


@experiment("demo-mean", quick={"n": 100, "n_seeds": 50}, plot=_plot)
def run_demo_mean(config: DemoMeanConfig) -> Result:
    """built-in check: sample mean of n Gaussian draws vs its N(μ, 1/n) law"""
    means = _simulate(config)
    mu, sd = mean_law(config.model, n=config.n)
    return Result(
        table=pd.DataFrame({"seed": np.arange(config.n_seeds), "mean": means}),
        summary={"mean": float(means.mean()), "sd": float(means.std(ddof=1))},
        comparisons=compare_moments(means, mu, sd),
        seeds=list(range(config.n_seeds)),
    )
