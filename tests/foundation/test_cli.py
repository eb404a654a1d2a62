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
