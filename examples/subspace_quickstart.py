"""Quickstart for attnlab.subspace: simulate projected SGA, compute the theory, plot both.

PYTHONPATH=src python examples/subspace_quickstart.py            # d=100, K=100, M=10^4
PYTHONPATH=src python examples/subspace_quickstart.py --toy      # seconds
... --out DIR                                                    # where the figure goes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from attnlab import plot
from attnlab.rng import replicate_keys
from attnlab.subspace import (
    Full,
    RobbinsMonro,
    SubspaceModel,
    closed_form_function,
    escape_time,
    fixed_points,
    phi_second_at_zero,
    simulate,
    solve_ode,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="tiny sizes (a few seconds)")
    ap.add_argument("--out", default=".", help="output folder for the figure")
    args = ap.parse_args()
    if args.toy:
        model = SubspaceModel(d=20, K=20, M=400, theta=0.5)
        schedule, steps, seeds = RobbinsMonro(c=3.0, n0=20.0), 200, 4
    else:
        model = SubspaceModel()  # the headline model: θ = 0.25, K = 100, M = 10⁴, d = 100
        schedule, steps, seeds = RobbinsMonro(), 1000, 8  # a_n = 9/(n + 30)

    # 1. simulate: the exact reduced O(N) simulator (default) and the full O(N d) one, same law
    run = dict(steps=steps, schedule=schedule, log_every=10)
    reduced = simulate(model, replicate_keys(0, seeds), **run)
    full = simulate(model, replicate_keys(1, seeds), simulator=Full(), **run)

    # 2. theory: φ''(0), escape time, ODE from the same m_0, fixed points
    dphi = closed_form_function(model, order=1)
    ode = solve_ode(reduced.m[:, 0], reduced.time, phi_prime=dphi)
    fps = fixed_points(dphi)
    print(f"phi''(0) = {phi_second_at_zero(model):.4f}, escape time = {escape_time(model):.2f}")
    print("fixed points:", ", ".join(f"{f.kind} m={f.m:+.3f} stable={f.stable}" for f in fps))
    print(f"final |m| reduced: {np.round(reduced.final_alignment, 4)}")
    print(f"final |m| full:    {np.round(full.final_alignment, 4)}")
    print(f"mean final alignment = {reduced.final_alignment.mean():.4f}")

    # 3. plot both side by side
    fig, ax = plot.subplots(width=5)
    band = dict(markers=False, clip=(0.0, 1.0))
    plot.simulation_band(ax, reduced.time, reduced.abs_m, label="reduced SGA", **band)
    plot.simulation_band(ax, full.time, full.abs_m, label="full SGA", color=plot.color(1), **band)
    plot.theory_line(ax, reduced.time, np.abs(ode).mean(0), label="ODE (same m₀ as reduced)")
    plot.finish(ax, xlabel="ODE time", ylabel="|m|")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot.save_figure(fig, out / "subspace_quickstart", formats=["png"])
    print(f"figure: {out / 'subspace_quickstart.png'}")


if __name__ == "__main__":
    main()
