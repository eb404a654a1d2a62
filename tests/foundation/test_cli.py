"""The command line: run with --quick/--set/--config, one-line errors (never a traceback)."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from attnlab.cli import app
from attnlab.demo.experiments.mean import DemoMeanConfig
from attnlab.store import is_complete, load_run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_quick_with_overrides(tmp_path):
    res = invoke(
        "run", "demo-mean", "--quick", "--set", "n=30", "--set", "mu=0.5", "--out", tmp_path
    )
    assert res.exit_code == 0, res.output
    path = tmp_path / res.stdout.strip().splitlines()[-1].split("/")[-1]
    assert is_complete(path)
    assert "PASS          mean of estimates: theory 0.5, simulation " in res.stdout
    assert "2/2 comparisons within tolerance" in res.stdout
    cfg = DemoMeanConfig.from_toml_file(path / "config.toml")
    assert (cfg.n, cfg.model.mu, cfg.n_seeds) == (30, 0.5, 50)  # n_seeds from the quick preset
    # a second run is skipped (resume), --force redoes it
    again = invoke(
        "run", "demo-mean", "--quick", "--set", "n=30", "--set", "mu=0.5", "--out", tmp_path
    )
    assert "skipped" in again.stdout
    forced = invoke(
        "run",
        "demo-mean",
        "--quick",
        "--set",
        "n=30",
        "--set",
        "mu=0.5",
        "--out",
        tmp_path,
        "--force",
    )
    assert "done in" in forced.stdout


def test_stored_config_reproduces_the_run(tmp_path):
    first = invoke("run", "demo-mean", "--quick", "--set", "n=12", "--out", tmp_path / "a")
    path_a = first.stdout.strip().splitlines()[-1]
    # --config with the stored config.toml (and nothing else) gives the same point and numbers
    res = invoke("run", "demo-mean", "--config", f"{path_a}/config.toml", "--out", tmp_path / "b")
    assert res.exit_code == 0, res.output
    path_b = res.stdout.strip().splitlines()[-1]
    assert path_a.split("/")[-1] == path_b.split("/")[-1]
    assert load_run(path_a).summary == load_run(path_b).summary


def test_set_overrides_config_file(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("n = 5\nn_seeds = 4\nmu = 2.0\n")
    res = invoke("run", "demo-mean", "--config", cfg_file, "--set", "mu=-1", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    cfg = DemoMeanConfig.from_toml_file(res.stdout.strip().splitlines()[-1] + "/config.toml")
    assert (cfg.n, cfg.n_seeds, cfg.model.mu) == (5, 4, -1.0)


BAD_INPUTS = [
    (["run", "nope"], "unknown experiment 'nope' (known: "),
    (["run", "demo-mean", "--set", "n=0"], "n = 0: Input should be greater than or equal to 1"),
    (["run", "demo-mean", "--set", "n=abc"], "n = 'abc': Input should be a valid integer"),
    (["run", "demo-mean", "--set", "n=2.5"], "n = 2.5: Input should be a valid integer"),
    (
        ["run", "demo-mean", "--set", "sleep_s=100"],
        "sleep_s = 100: Input should be less than or equal to 60",
    ),
    (["run", "demo-mean", "--set", "mu=nan"], "model.mu = nan: Input should be a finite number"),
    (
        ["run", "demo-mean", "--set", "dd=1"],
        "unknown field 'dd' (valid fields: model, n, n_seeds, seed, sleep_s)",
    ),
    (["run", "demo-mean", "--set", "n"], "--set expects KEY=VALUE, got 'n'"),
    (["run", "demo-mean", "--set", "n=1", "--set", "n=2"], "--set n given twice"),
    (["run", "demo-mean", "--config", "{tmp}/missing.toml"], "cannot read {tmp}/missing.toml"),
    (["run", "demo-mean", "--config", "{tmp}/bad.toml"], "{tmp}/bad.toml: invalid TOML"),
    (["run", "demo-mean", "--config", "{tmp}/unknown.toml"], "unknown field 'zz'"),
    (["sweep", "{tmp}/missing.toml"], "cannot read {tmp}/missing.toml"),
    (["sweep", "{tmp}/unknown.toml"], "unknown key(s) 'n', 'zz'"),
    (["collect", "{tmp}/empty"], "no complete attnlab runs under {tmp}/empty"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2(tmp_path, args, expected):
    (tmp_path / "bad.toml").write_text("n = = 1\n")
    (tmp_path / "unknown.toml").write_text("zz = 1\nn = 3\n")
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path) for a in args]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "out")] if args[0] == "run" else args)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("error: ")
    assert expected.format(tmp=tmp_path) in err
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "out").exists()  # failed before any work started


def test_real_process_prints_no_traceback(tmp_path, python, subprocess_env):
    res = subprocess.run(
        [python, "-m", "attnlab", "run", "demo-mean", "--set", "n_seeds=1", "--out", str(tmp_path)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "error: invalid config for DemoMeanConfig: n_seeds = 1: "
        "Input should be greater than or equal to 2"
    )
    assert "Traceback" not in res.stdout + res.stderr
    assert not any(tmp_path.iterdir())


def test_help_lists_commands():
    res = invoke("--help")
    assert res.exit_code == 0
    for cmd in ("list", "show", "run", "sweep", "collect"):
        assert cmd in res.stdout


def test_show_lists_fields_with_quick_values_and_ranges():
    res = invoke("show", "demo-mean")
    assert res.exit_code == 0, res.output
    assert "n: int = 1000  (--quick: 100)  in [1, inf)" in res.stdout
    assert "sleep_s: float = 0.0  in [0, 60]" in res.stdout
    bad = invoke("show", "nope")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: unknown experiment 'nope'")


# -- one line, never a traceback: names, values, files, OS errors -------------------------------
def _one_line_error(res, code: int = 2) -> str:
    assert res.exit_code == code, res.output
    err = res.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("error: "), err
    assert "Traceback" not in res.output
    return err


def test_did_you_mean_for_experiment_names(tmp_path):
    err = _one_line_error(invoke("run", "demo-maen", "--out", tmp_path))
    assert "unknown experiment 'demo-maen'; did you mean 'demo-mean'?" in err
    err = _one_line_error(invoke("show", "demo_mean"))
    assert "did you mean 'demo-mean'?" in err


@pytest.mark.parametrize(
    ("experiment", "setting", "field"),
    [
        ("subspace-robustness", "theta=inf", "theta"),
        ("pooling-outlier", "gamma=inf", "gamma"),
        ("demo-mean", "mu=inf", "mu"),
        ("demo-mean", "mu=-inf", "mu"),
        ("demo-mean", "mu=nan", "mu"),
        ("demo-mean", "n=true", "n"),
        ("demo-mean", "n_seeds=false", "n_seeds"),
    ],
)
def test_non_finite_and_boolean_numbers_are_refused(tmp_path, experiment, setting, field):
    err = _one_line_error(invoke("run", experiment, "--quick", "--set", setting, "--out", tmp_path))
    value = setting.split("=")[1]
    assert f"{field} = " in err and (value in err or value.capitalize() in err), err
    assert not any(tmp_path.iterdir())


def test_a_binary_config_file_is_one_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    err = _one_line_error(invoke("run", "demo-mean", "--config", cfg, "--out", tmp_path / "o"))
    assert err == f"error: {cfg}: not a TOML file (not UTF-8 text)"


def test_out_is_a_file_is_one_line(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    err = _one_line_error(invoke("run", "demo-mean", "--quick", "--out", file))
    assert err == f"error: {file}: a file is in the way, a directory is needed (File exists)"
    err = _one_line_error(invoke("reproduce", "--only", "demo", "--out", file))
    assert f"{file}: a file is in the way" in err
    assert invoke("run", "demo-mean", "--quick", "--out", tmp_path / "runs").exit_code == 0
    err = _one_line_error(invoke("collect", tmp_path / "runs", "--out", file / "t.csv"))
    assert f"{file}" in err and "a file is in the way" in err


def test_disk_full_is_one_line(tmp_path, monkeypatch):
    import errno

    import attnlab._atomic

    real = attnlab._atomic.atomic_write_bytes

    def full(path, data):
        if "demo-mean" in str(path) or str(path).endswith((".csv", ".json")):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(attnlab._atomic, "atomic_write_bytes", full)
    err = _one_line_error(invoke("run", "demo-mean", "--quick", "--out", tmp_path), code=1)
    assert err.startswith("error: demo-mean failed: OSError: [Errno 28] No space left on device")
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # nothing final
    res = invoke("reproduce", "--only", "demo", "--out", tmp_path / "r")
    assert res.exit_code == 2 and "Traceback" not in res.output
    # the per-experiment line of the display, then the error that stopped the report
    assert res.stderr.strip().splitlines()[-1].startswith("error: No space left on device: ")


def test_read_only_out_is_one_line(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    real = Path.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    err = _one_line_error(invoke("run", "demo-mean", "--quick", "--out", tmp_path / "ro"))
    assert err == f"error: Read-only file system: {tmp_path / 'ro'}"
    err = _one_line_error(invoke("reproduce", "--only", "demo", "--out", tmp_path / "ro"))
    assert err == f"error: Read-only file system: {tmp_path / 'ro'}"


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 32 kB tmpfs mounted under tmp_path (root only; skipped where mounting is refused)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk_is_one_line_and_leaves_nothing_half(tiny_tmpfs, python, subprocess_env):
    # a 32 kB file system holds the config and the table but not the figures
    res = subprocess.run(
        [python, "-m", "attnlab", "run", "demo-mean", "--quick", "--out", str(tiny_tmpfs)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    err = res.stderr.strip()
    assert err.count("\n") == 0 and "No space left on device" in err and "Traceback" not in err
    assert [p.name for p in tiny_tmpfs.iterdir() if not p.name.startswith(".")] == []
    assert not [p for p in tiny_tmpfs.iterdir() if p.suffix == ".tmp"]  # temp dir removed


def test_a_family_that_does_not_import_is_one_line(monkeypatch):
    from attnlab import registry

    def broken():
        raise registry.DiscoveryError(
            "cannot import attnlab.broken.experiments (ImportError: no module named x); "
            "its experiments are not available"
        )

    monkeypatch.setattr(registry, "all_experiments", broken)
    err = _one_line_error(invoke("list"), code=1)
    assert err.startswith("error: cannot import attnlab.broken.experiments (ImportError")
    monkeypatch.setattr(registry, "get_experiment", lambda name: broken())
    _one_line_error(invoke("run", "demo-mean"), code=1)


def test_discovery_error_names_the_module(monkeypatch):
    import importlib

    from attnlab import registry

    real = importlib.import_module

    def fake(name, *args):
        if name == "attnlab.demo.experiments.mean":
            raise ZeroDivisionError("division by zero\nsecond line")
        return real(name, *args)

    monkeypatch.setattr(registry, "_DISCOVERED", False)
    monkeypatch.setattr(registry.importlib, "import_module", fake)
    with pytest.raises(registry.DiscoveryError) as info:
        registry.discover()
    assert str(info.value) == (
        "cannot import attnlab.demo.experiments.mean (ZeroDivisionError: division by zero); "
        "its experiments are not available"
    )


def test_debug_shows_the_traceback(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xff\xfe")
    res = invoke("--debug", "run", "demo-mean", "--config", cfg, "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert "Traceback (most recent call last)" in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: ")


def test_usage_errors_are_one_line_in_a_real_process(tmp_path, python, subprocess_env):
    res = subprocess.run(
        [python, "-m", "attnlab", "sweep", str(tmp_path / "x.toml"), "--engine", "ray"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    err = res.stderr.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("error: Invalid value for '--engine'") and "'ray'" in err


# -- help texts ----------------------------------------------------------------------------------
def test_help_shows_choices_and_escaped_brackets():
    res = invoke("sweep", "--help")
    assert res.exit_code == 0
    assert "[base], [grid]" in res.stdout
    assert "local|process|dask" in res.stdout
    res = invoke("reproduce", "--help")
    assert "local|process|dask" in res.stdout and "--allow-large" in res.stdout


# -- a failure is never a pass -------------------------------------------------------------------
def test_run_line_shows_the_verdict_and_strict_fails_on_it(tmp_path, monkeypatch):
    import dataclasses
    import math

    import pandas as pd

    from attnlab import registry
    from attnlab.compare import Comparison, Result

    def nan_run(config):
        return Result(
            table=pd.DataFrame({"x": [1.0]}),
            summary={"mu": math.inf},
            comparisons=[
                Comparison("m", math.nan, 0.5, 0.1, max_tolerance=1.0),
                Comparison("q", 1.0, 1.5, 0.1, max_tolerance=1.0),
            ],
        )

    exp = dataclasses.replace(registry.get_experiment("demo-mean"), run=nan_run, plot=None)
    monkeypatch.setitem(registry._REGISTRY, "demo-mean", exp)
    res = invoke("run", "demo-mean", "--quick", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert "INVALID       m: theory nan" in res.stdout
    assert (
        "0/2 comparisons within tolerance; run FAILED "
        "(invalid: m: theory is not finite …)" in res.stdout
    )
    assert "  fail: q: |difference| 0.5 > tolerance 0.1" in res.stdout
    strict = invoke("run", "demo-mean", "--quick", "--out", tmp_path, "--strict")
    assert strict.exit_code == 1


# -- sizes: refused before any allocation, unless --allow-large ----------------------------------
def test_run_refuses_what_cannot_fit_in_one_line(tmp_path, monkeypatch):
    # n = 10^9 draws × 50 seeds: 400 GB, far more than this machine's RAM
    err = _one_line_error(
        invoke("run", "demo-mean", "--quick", "--set", "n=1000000000", "--out", tmp_path)
    )
    assert err.startswith("error: demo-mean: needs about 400 GB of memory (n × n_seeds), more than")
    assert "of available RAM; pass --allow-large to run it anyway" in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    # the work ceiling is configurable, and --allow-large overrides both limits
    monkeypatch.setenv("ATTNLAB_MAX_FLOPS", "1000")
    err = _one_line_error(invoke("run", "demo-mean", "--quick", "--out", tmp_path))
    assert "needs about 5e+03 flops of work (n × n_seeds), more than 1e+03" in err
    res = invoke("run", "demo-mean", "--quick", "--out", tmp_path, "--allow-large")
    assert res.exit_code == 0, res.output
