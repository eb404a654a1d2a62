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
    closed_form_function,
    escape_time,
    fixed_points,
    phi_second_at_zero,
    simulate_reduced,
    simulate_sga,
    solve_ode,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="tiny sizes (a few seconds)")
    ap.add_argument("--out", default=".", help="output folder for the figure")
    args = ap.parse_args()
    if args.toy:
        model = dict(d=20, K=20, M=400, theta=0.5)
        sched = dict(steps=200, c=3.0, n0=20.0, log_every=10)
        seeds = 4
    else:
        model = dict(d=100, K=100, M=10_000, theta=0.25)
        sched = dict(steps=1000, c=9.0, n0=30.0, log_every=10)
        seeds = 8

    # 1. simulate: full O(N d) simulator and the exact reduced O(N) one (same law of m_n)
    full = simulate_sga(replicate_keys(0, seeds), **model, **sched)
    reduced = simulate_reduced(replicate_keys(1, seeds), **model, **sched)

    # 2. theory: φ''(0), escape time, ODE from the same m_0, fixed points
    phi2 = phi_second_at_zero(**model)
    dphi = closed_form_function(**model, order=1)
    ode = solve_ode(full.m[:, 0], full.time, phi_prime=dphi)
    fps = fixed_points(dphi)
    print(f"phi''(0) = {phi2:.4f}, escape time = {escape_time(d=model['d'], phi2=phi2):.2f}")
    print("fixed points:", ", ".join(f"{f.kind} m={f.m:+.3f} stable={f.stable}" for f in fps))
    print(f"final |m| full:    {np.round(full.final_alignment, 4)}")
    print(f"final |m| reduced: {np.round(reduced.final_alignment, 4)}")
    print(f"mean final alignment = {full.final_alignment.mean():.4f}")

    # 3. plot both side by side
    fig, ax = plot.subplots(width=5)
    plot.simulation_band(ax, full.time, full.abs_m, label="full SGA", markers=False)
    plot.simulation_band(
        ax, reduced.time, reduced.abs_m, label="reduced SGA", color=plot.PALETTE[1], markers=False
    )
    plot.theory_line(ax, full.time, np.abs(ode).mean(0), label="ODE (same m_0)")
    plot.finish(ax, xlabel="ODE time", ylabel="|m|")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "subspace_quickstart.png")
    print(f"figure: {out / 'subspace_quickstart.png'}")


if __name__ == "__main__":
    main()
