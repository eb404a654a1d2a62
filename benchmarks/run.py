"""One benchmark table: full-size experiment wall times, hot-kernel throughput, the targets.

    PYTHONPATH=src python benchmarks/run.py [--quick] [--results DIR ... | --run] [--markdown]

Experiments: each registered experiment's wall time (run + figures, from its manifest) at full
size — read from a results directory (``--results results/full`` after ``attnlab reproduce
--full``; only runs whose files verify are read; ``--results`` given several times, one
directory per whole reproduction, reads each and prints the median, over the directories that
hold it, of every experiment's time and of the reproduce wall time) or measured now with
``--run`` (the median of ``--repeat`` forced runs into ``--results`` or a temporary
directory). ``--quick`` reads or runs the quick presets instead (a smoke test: the targets are
about full sizes).

Kernels: every ``benchmarks/<module>.py`` that defines ``run(quick: bool) -> list[dict]`` (keys
``benchmark``, ``value``, ``unit``, ``reference``, ``ratio``, ``note``; ``ratio`` > 1 means faster
than the reference) contributes its rows; a family module that is missing, does not import, has
no ``run`` or raises is one row saying so ("not available").

Targets: the performance targets of the project (full sizes, a 2-core CPU) are printed beside
the measurements with PASS / MISS, or "—" when nothing was measured for them.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import statistics
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FAMILIES = ("subspace", "pooling", "erf_slr", "gslr")  # benchmarks/<family>.py expected
REPRODUCE_WALL = "<reproduce>"  # key of reproduce.json's wall time in the times
KEYS = ("benchmark", "value", "unit", "reference", "ratio", "note")
ERF_REFERENCE_RUNS = (  # the five SLR-erf reference runs (the oracle check is theory only)
    "slr-manifold",
    "slr-sphere-large-lambda",
    "slr-sphere-small-lambda",
    "slr-sphere-schedule",
    "slr-sgd",
)


@dataclass
class Row:
    """One line of the table."""

    kind: str  # "experiment", "kernel", "target"
    name: str
    value: float | None = None
    unit: str = ""
    reference: str = ""
    ratio: float | None = None
    note: str = ""
    verdict: str = ""


# -- experiments --------------------------------------------------------------------------------
def stored_seconds(manifest: dict[str, Any]) -> float | None:
    """Wall time of a stored run: ``total`` when recorded, else ``run + plot``."""
    timings = manifest.get("timings_s") or {}
    if "total" in timings:
        return float(timings["total"])
    if "run" in timings:
        return float(timings["run"]) + float(timings.get("plot", 0.0))
    return None


def experiment_times(
    results: Path, quick: bool, names: Iterable[str] | None = None
) -> dict[str, float | None]:
    """Each experiment's wall time from its verified run (default config) under ``results``."""
    from attnlab.registry import all_experiments
    from attnlab.store import load_run, run_dir, verify_run

    out: dict[str, float | None] = {}
    for name, exp in all_experiments().items():
        if exp.family == "demo" or (names is not None and name not in names):
            continue
        path = run_dir(results, name, exp.make_config(quick=quick))
        out[name] = stored_seconds(load_run(path).manifest) if verify_run(path) is None else None
    return out


def measure_experiments(
    results: Path, quick: bool, repeat: int, names: Iterable[str] | None = None
) -> dict[str, float | None]:
    """Run every experiment ``repeat`` times (forced) and keep the median wall time."""
    from attnlab.registry import all_experiments
    from attnlab.store import load_run
    from attnlab.sweep import Task, run_tasks

    wanted = [
        n for n, e in all_experiments().items() if e.family != "demo" and (not names or n in names)
    ]
    times: dict[str, list[float]] = {n: [] for n in wanted}
    for i in range(repeat):
        tasks = [Task(n, {}, quick, results) for n in wanted]
        for outcome in run_tasks(tasks, force=i > 0, progress=False, on_invalid="fail"):
            if outcome.completed:
                seconds = stored_seconds(load_run(outcome.path).manifest)
                times[outcome.task.experiment].append(seconds or outcome.wall_s)
            else:
                print(f"{outcome.task.experiment}: {outcome.error}", file=sys.stderr)
    return {n: statistics.median(t) if t else None for n, t in times.items()}


def reproduce_wall(results: Path, quick: bool) -> float | None:
    """The wall time recorded by ``attnlab reproduce`` in ``results/reproduce.json``, if that
    reproduce was of the same mode, over every experiment, and computed every run itself: an
    interrupted or failed reproduce, or one that resumed (runs ``skipped`` as already complete),
    did not time the whole reproduction."""
    import json

    try:
        record = json.loads((results / "reproduce.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("mode") != ("quick" if quick else "full") or record.get("only"):
        return None
    runs = record.get("runs")
    if not isinstance(runs, list) or not runs:
        return None
    if any(not isinstance(run, dict) or run.get("status") != "ran" for run in runs):
        return None
    wall = record.get("wall_s")
    return float(wall) if isinstance(wall, int | float) else None


def median_times(
    each: list[dict[str, float | None]],
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Per name, the median of the times measured in ``each`` (one dict per results directory;
    None where that directory does not hold the run), and how many times it is the median of."""
    names = list(dict.fromkeys(name for times in each for name in times))
    times: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for name in names:
        values = [t[name] for t in each if t.get(name) is not None]
        times[name] = statistics.median(values) if values else None
        counts[name] = len(values)
    return times, counts


def experiment_rows(
    times: dict[str, float | None], counts: dict[str, int] | None = None, of: int = 1
) -> list[Row]:
    """One row per experiment; with ``of`` > 1 results directories, the note says of how many
    the value is the median."""
    rows = []
    for name, t in times.items():
        label = "reproduce (reproduce.json wall time)" if name == REPRODUCE_WALL else name
        if t is None:
            note = "not run"
        elif of > 1:
            note = f"median of {(counts or {}).get(name, of)} of {of} runs"
        else:
            note = ""
        rows.append(Row("experiment", label, t, "s", note=note))
    return rows


# -- kernels ------------------------------------------------------------------------------------
def _load(path: Path) -> Any:
    name = f"_attnlab_bench_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module  # dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _row_of(family: str, d: Any) -> Row:
    missing = [k for k in KEYS if k not in d] if isinstance(d, dict) else list(KEYS)
    if missing:
        return Row("kernel", f"{family}: malformed row", note=f"missing {', '.join(missing)}")
    ratio = d["ratio"]
    return Row(
        "kernel",
        f"{family}: {d['benchmark']}",
        float(d["value"]),
        str(d["unit"]),
        str(d["reference"]),
        None if ratio is None else float(ratio),
        str(d["note"]),
    )


def kernel_rows(quick: bool, only: Iterable[str] | None = None) -> list[Row]:
    """The rows of every ``benchmarks/<module>.py`` with ``run(quick)``; "not available" rows
    for a family without a module, or a module that fails to import, lacks ``run`` or raises."""
    modules = {p.stem: p for p in sorted(HERE.glob("*.py")) if p.stem not in ("run", "__init__")}
    names = sorted(set(modules) | set(FAMILIES))
    rows: list[Row] = []
    for name in names:
        if only and name not in only:
            continue
        if name not in modules:
            rows.append(Row("kernel", name, note=f"not available: no benchmarks/{name}.py"))
            continue
        try:
            module = _load(modules[name])
        except BaseException as err:  # noqa: BLE001 - a broken module is one row
            if isinstance(err, KeyboardInterrupt):
                raise
            rows.append(Row("kernel", name, note=f"not available: import failed ({_line(err)})"))
            continue
        run = getattr(module, "run", None)
        if not callable(run):
            rows.append(Row("kernel", name, note="not available: no run(quick) function"))
            continue
        try:
            rows += [_row_of(name, d) for d in run(quick)]
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            rows.append(Row("kernel", name, note=f"not available: run() failed ({_line(err)})"))
    return rows


def _line(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


# -- targets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A target: a measured number (from the experiment times or the kernel rows) and a bound."""

    what: str
    bound: str  # for the table, e.g. "≤ 30 s"
    measure: Callable[[dict[str, float | None], list[Row]], tuple[float | None, bool | None]]


def _each(family: str, limit: float) -> Callable:
    def measure(times, kernels):
        from attnlab.registry import all_experiments

        names = [n for n, e in all_experiments().items() if e.family == family and n in times]
        values = [times[n] for n in names]
        if not values or any(v is None for v in values):
            return None, None
        worst = max(values)
        return worst, worst <= limit

    return measure


def _total(names: Iterable[str] | None, limit: float) -> Callable:
    def measure(times, kernels):
        if names is None:
            picked = [v for k, v in times.items() if k != REPRODUCE_WALL]
        else:
            picked = [times.get(n) for n in names]
        if not picked or any(v is None for v in picked):
            return None, None
        total = float(sum(picked))
        return total, total <= limit

    return measure


def _reproduce(limit: float) -> Callable:
    def measure(times, kernels):
        wall = times.get(REPRODUCE_WALL)
        if wall is not None:
            return wall, wall <= limit
        return _total(None, limit)(times, kernels)

    return measure


def _kernel(pattern: str, *, max_value: float | None = None, min_ratio: float | None = None):
    regex = re.compile(pattern, re.IGNORECASE)

    def measure(times, kernels):
        rows = [
            r for r in kernels if r.value is not None and regex.search(r.name + " " + r.reference)
        ]
        if not rows:
            return None, None
        if max_value is not None:
            worst = max(r.value for r in rows)
            return worst, worst <= max_value
        ratios = [r.ratio for r in rows if r.ratio is not None]
        if not ratios:
            return None, None
        return min(ratios), min(ratios) >= min_ratio

    return measure


TARGETS = (
    Target("every subspace experiment (worst)", "≤ 30 s", _each("subspace", 30)),
    Target("every pooling experiment (worst)", "≤ 20 s", _each("pooling", 20)),
    Target("the five SLR-erf reference runs together", "≤ 60 s", _total(ERF_REFERENCE_RUNS, 60)),
    Target("slr-finite", "≤ 150 s", _total(["slr-finite"], 150)),
    Target("slr-init", "≤ 150 s", _total(["slr-init"], 150)),
    Target("slr-population", "≤ 60 s", _total(["slr-population"], 60)),
    Target(
        "reproduce --full (its wall time, else the sum of the runs)", "≤ 720 s", _reproduce(720)
    ),
    Target(
        "subspace reduced simulator vs random-number floor (ratio)",
        "≥ 1/1.5",
        _kernel(r"^subspace:.*reduced.*floor", min_ratio=1 / 1.5),
    ),
    Target(
        "pooling: one d = 4000 trial", "≤ 1 s", _kernel(r"^pooling:.*d ?= ?4000", max_value=1.0)
    ),
    Target(
        "gslr: one replica fixed point", "≤ 0.5 s", _kernel(r"^gslr:.*fixed point", max_value=0.5)
    ),
    Target(
        "gslr: a 50-point α-curve", "≤ 20 s", _kernel(r"^gslr:.*(α|alpha).?curve", max_value=20)
    ),
    Target(
        "gslr: ERM iteration vs one data pass (ratio)",
        "≥ 1/1.5",
        _kernel(r"^gslr:.*erm.*data pass", min_ratio=1 / 1.5),
    ),
)


def target_rows(times: dict[str, float | None], kernels: list[Row]) -> list[Row]:
    rows = []
    for t in TARGETS:
        value, ok = t.measure(times, kernels)
        verdict = "—" if ok is None else ("PASS" if ok else "MISS")
        rows.append(Row("target", t.what, value, "", t.bound, None, "", verdict))
    return rows


# -- output -------------------------------------------------------------------------------------
def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.3g}"


HEADER = ("kind", "name", "value", "unit", "reference / target", "ratio", "verdict", "note")


def _cells(r: Row) -> tuple[str, ...]:
    return (r.kind, r.name, _num(r.value), r.unit, r.reference, _num(r.ratio), r.verdict, r.note)


def render(rows: list[Row], markdown: bool = False) -> str:
    cells = [HEADER] + [_cells(r) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        lines.insert(1, "|" + "---|" * len(HEADER))
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="quick presets and small kernels")
    ap.add_argument(
        "--results",
        type=Path,
        action="append",
        help="results directory to read (or --run into); repeat it for the median of several",
    )
    ap.add_argument("--run", action="store_true", help="run the experiments now")
    ap.add_argument("--repeat", type=int, default=1, help="runs per experiment with --run")
    ap.add_argument("--only", action="append", help="only this experiment / kernel module")
    ap.add_argument("--no-kernels", action="store_true", help="skip the kernel benchmarks")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat {args.repeat}: must be >= 1")
    times: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    results = args.results or []
    if args.run:
        if len(results) > 1:
            ap.error("--run writes into one --results directory, not several")
        with tempfile.TemporaryDirectory(prefix="attnlab-bench-") as tmp:
            root = results[0] if results else Path(tmp)
            times = measure_experiments(root, args.quick, args.repeat, args.only)
    elif results:
        each = []
        for path in results:
            if not path.is_dir():
                ap.error(f"--results {path}: not a directory")
            one = experiment_times(path, args.quick, args.only)
            wall = reproduce_wall(path, args.quick)
            if not args.only:
                one[REPRODUCE_WALL] = wall
            each.append(one)
        times, counts = median_times(each)
        if times.get(REPRODUCE_WALL, 0.0) is None:
            del times[REPRODUCE_WALL]  # no directory holds a whole reproduction's wall time
    kernels = [] if args.no_kernels else kernel_rows(args.quick, args.only)
    rows = experiment_rows(times, counts, len(results)) + kernels + target_rows(times, kernels)
    print(render(rows, markdown=args.markdown))
    try:
        import jax

        print(f"\ndevices: {', '.join(str(d) for d in jax.devices())}")
    except Exception:  # pragma: no cover - informational only
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
