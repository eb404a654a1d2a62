"""Registered demo experiment ``demo-mean`` (sample mean vs its N(mu, 1/n) law)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from attnlab.config import ExperimentConfig
from attnlab.registry import Comparison, Result, experiment


class DemoMeanConfig(ExperimentConfig):
    """Sample-mean demo: ``n_seeds`` replicates of the mean of ``n`` draws of N(mu, 1)."""

    n: int = Field(1000, ge=1, description="draws per replicate")
    mu: float = Field(0.0, description="true mean")
    n_seeds: int = Field(200, ge=2, description="replicates")
    sleep_s: float = Field(
        0.0,
        ge=0,
        le=60,
        description="extra seconds the run sleeps (to exercise sweep engines and worker loss)",
    )


def _plot(result: Result, config: DemoMeanConfig) -> dict:
    from attnlab import plot

    fig, ax = plot.subplots()
    means = result.table["mean"].to_numpy()
    grid = np.linspace(
        means.min() - 0.5 / np.sqrt(config.n), means.max() + 0.5 / np.sqrt(config.n), 200
    )
    dens = np.sqrt(config.n / (2 * np.pi)) * np.exp(-config.n * (grid - config.mu) ** 2 / 2)
    plot.histogram_vs_density(ax, means, grid, dens, bins=20, density_label="N(mu, 1/n)")
    plot.finish(ax, xlabel="sample mean", ylabel="density", title=f"n={config.n}")
    return {"histogram": fig}


@experiment(
    "demo-mean",
    config=DemoMeanConfig,
    description="built-in check: sample mean of n Gaussian draws vs its N(mu, 1/n) law",
    quick={"n": 100, "n_seeds": 50},
    plot=_plot,
)
def run_demo_mean(config: DemoMeanConfig) -> Result:
    import time

    from attnlab.demo import sample_means
    from attnlab.rng import replicate_keys

    if config.sleep_s:
        time.sleep(config.sleep_s)

    means = np.asarray(
        sample_means(replicate_keys(config.seed, config.n_seeds), n=config.n, mu=config.mu)
    )
    table = pd.DataFrame({"seed": np.arange(config.n_seeds), "mean": means})
    sd_theory = 1 / np.sqrt(config.n)
    k = config.n_seeds
    comparisons = [
        # the mean of k means has sd 1/sqrt(n k): 4 standard errors
        Comparison(
            "mean of estimates",
            config.mu,
            means.mean(),
            4 * sd_theory / np.sqrt(k),
            note="4 standard errors of the mean over seeds",
        ),
        # the sample sd over k seeds has relative sd ~ 1/sqrt(2(k-1)): 4 of those
        Comparison(
            "sd of estimates",
            sd_theory,
            means.std(ddof=1),
            4 * sd_theory / np.sqrt(2 * (k - 1)),
            note="4 standard errors of a sample sd over seeds",
        ),
    ]
    return Result(
        table=table,
        summary={"mean": float(means.mean()), "sd": float(means.std(ddof=1))},
        comparisons=comparisons,
        seeds=list(range(config.n_seeds)),
    )
