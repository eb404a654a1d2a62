"""Finite-size study of ERM at low signal and weak regularisation (spiked ν = 1, r = 0.05, L = 3).

    PYTHONPATH=src nice python scripts/gslr_finite_size.py [--dims 200 400 800 1600]
        [--seeds 10 8 5 3] [--alphas 3 5 8] [--n-test 10000] [--out FILE.csv]

For each D and seed (one teacher, one nested training stream): at every α, ERM from two random
starts, the informed start and (after the first α) a warm start from the previous α's best
minimiser; the fit with the lowest training objective is kept. Prints, per (D, α), the mean
and standard error over seeds of the kept fits' test error, q_k, m_k and training objective,
which start won how often, and the replica values of both branches; writes every fit to CSV.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

from attnlab.gslr import (
    GSLRModel,
    InformedInit,
    RandomInit,
    ReplicaOptions,
    ReplicaSolver,
    fit_erm,
    generalisation_error,
    overlaps,
    sample_data,
    sample_teacher,
)
from attnlab.rng import replicate_keys, root_key, stream

MODEL = GSLRModel(nu=1.0, L=3)
R = 0.05


def fits_of_seed(key, dim: int, alphas: list[float], n_test: int) -> list[dict]:
    teacher = sample_teacher(MODEL, stream(key, "teacher"), dim=dim)
    data = sample_data(MODEL, stream(key, "train"), teacher, n=int(round(alphas[-1] * dim)))
    rows, best = [], None
    for alpha in alphas:
        part = data.head(int(round(alpha * dim)))
        starts = {
            "random-1": RandomInit(),
            "random-2": RandomInit(),
            "informed": InformedInit(),
        }
        if best is not None:
            starts["warm"] = best
        fits = {}
        for name, init in starts.items():
            fit = fit_erm(
                MODEL, part, r=R, init=init, key=stream(key, f"{name} {alpha:g}"), teacher=teacher
            )
            test = generalisation_error(
                MODEL, fit.k, fit.v, stream(key, "test"), teacher=teacher, n_test=n_test
            )
            o = overlaps(fit.k, fit.v, teacher)
            fits[name] = fit
            rows.append(
                {
                    "dim": dim,
                    "alpha": alpha,
                    "start": name,
                    "objective": fit.objective,
                    "test_error": test.value,
                    "m_k": o.m_k,
                    "q_k": o.q_k,
                    "m_v": o.m_v,
                    "q_v": o.q_v,
                    "converged": fit.converged,
                    "n_iter": fit.n_iter,
                }
            )
        best = min(fits.values(), key=lambda f: f.objective)
        kept = min(rows[-len(fits) :], key=lambda row: row["objective"])
        kept["kept"] = True
    return rows


def summary(rows: list[dict], replica: dict) -> list[str]:
    lines = [
        "| D | α | seeds | test error (kept) | q_k | m_k | objective | kept start "
        "| random-start test error | replica unif. / inf. test error | replica q_k |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["dim"], r["alpha"]) for r in rows})
    for dim, alpha in keys:
        sub = [r for r in rows if r["dim"] == dim and r["alpha"] == alpha]
        kept = [r for r in sub if r.get("kept")]
        rand = [r for r in sub if r["start"] == "random-1"]
        n = len(kept)

        def ms(values: list[float]) -> str:
            v = np.asarray(values)
            se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
            return f"{v.mean():.3f} ± {se:.3f}"

        winners = {}
        for r in kept:
            winners[r["start"]] = winners.get(r["start"], 0) + 1
        rep = replica.get(alpha, {})
        lines.append(
            f"| {dim} | {alpha:g} | {n} | {ms([r['test_error'] for r in kept])} "
            f"| {ms([r['q_k'] for r in kept])} | {ms([r['m_k'] for r in kept])} "
            f"| {ms([r['objective'] for r in kept])} "
            f"| {', '.join(f'{k} {v}' for k, v in sorted(winners.items()))} "
            f"| {ms([r['test_error'] for r in rand])} "
            f"| {rep.get('uninformed', float('nan')):.3f} / {rep.get('informed', float('nan')):.3f}"
            f" | {rep.get('q_k', float('nan')):.2f} |"
        )
    return lines


def replica_values(alphas: list[float]) -> dict:
    solver = ReplicaSolver(MODEL, "softmax", root_key(0), options=ReplicaOptions(n_mc=8000))
    out: dict = {}
    for row in solver.curve(alphas, r=R):
        entry = out.setdefault(row["alpha"], {})
        entry[row["branch"]] = row["test_error"]
        if row["kept"]:
            entry["q_k"] = row["q_k"]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dims", type=int, nargs="+", default=[200, 400, 800, 1600])
    p.add_argument("--seeds", type=int, nargs="+", default=[10, 8, 5, 3])
    p.add_argument("--alphas", type=float, nargs="+", default=[3.0, 5.0, 8.0])
    p.add_argument("--n-test", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=Path("gslr_finite_size.csv"))
    p.add_argument("--no-replica", action="store_true", help="skip the replica columns")
    args = p.parse_args()
    alphas = sorted(args.alphas)
    t0 = time.time()
    replica = {} if args.no_replica else replica_values(alphas)
    print(f"replica done ({time.time() - t0:.0f} s): {replica}", flush=True)
    rows: list[dict] = []
    for dim, n_seeds in zip(args.dims, args.seeds, strict=True):
        for seed, key in enumerate(replicate_keys(2026, n_seeds)):
            for row in fits_of_seed(key, dim, alphas, args.n_test):
                rows.append({"seed": seed, "kept": False, **row})
            print(f"D={dim} seed {seed} done ({time.time() - t0:.0f} s)", flush=True)
        with args.out.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print("\n".join(summary(rows, replica)), flush=True)
    print(f"total {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
