"""Experiment registry: discovery of family subpackages, registration rules, `attnlab list`."""

from __future__ import annotations

import pydantic
import pytest
from typer.testing import CliRunner

from attnlab._validate import ParameterError
from attnlab.cli import app
from attnlab.compare import Result
from attnlab.config import ConfigError, Cost, ExperimentConfig
from attnlab.registry import (
    _REGISTRY,
    all_experiments,
    experiment,
    get_experiment,
)


class TinyConfig(ExperimentConfig):
    n: int = pydantic.Field(10, ge=1)

    def cost(self) -> Cost:
        return Cost(8.0 * self.n, float(self.n), "n")


class NoCostConfig(ExperimentConfig):
    n: int = pydantic.Field(10, ge=1)


def test_demo_family_is_discovered():
    exps = all_experiments()
    assert "demo-mean" in exps
    demo = exps["demo-mean"]
    assert demo.family == "demo"
    assert demo.description and "\n" not in demo.description
    assert demo.plot is not None
    # quick preset applied on top of the full-size defaults, overrides on top of it
    assert demo.make_config().n == 1000
    assert demo.make_config(quick=True).n == 100
    assert demo.make_config({"n": 7}, quick=True).n == 7


def test_every_registered_experiment_is_well_formed():
    for name, exp in all_experiments().items():
        assert exp.name == name
        assert issubclass(exp.config_cls, ExperimentConfig)
        assert exp.description.strip() and "\n" not in exp.description
        exp.make_config(quick=True)  # the quick preset is a valid config


def test_unknown_experiment_lists_known_ones():
    with pytest.raises(ParameterError, match=r"unknown experiment 'nope' \(known: .*demo-mean"):
        get_experiment("nope")


def test_registration_rules():
    def run(config):
        return Result(table=None)

    try:
        experiment("test-tiny", config=TinyConfig, description="tiny", family="test")(run)
        assert get_experiment("test-tiny").family == "test"

        def other(config):
            return Result(table=None)

        with pytest.raises(ValueError, match="already registered"):
            experiment("test-tiny", config=TinyConfig, description="x")(other)
        with pytest.raises(ConfigError, match="n = 0"):
            experiment("test-bad-quick", config=TinyConfig, description="x", quick={"n": 0})(run)
        assert "test-bad-quick" not in _REGISTRY
    finally:
        _REGISTRY.pop("test-tiny", None)


def test_config_and_description_default_to_the_annotation_and_the_docstring():
    def run_tiny(config: TinyConfig) -> Result:
        """tiny check: first paragraph,
        on two lines.

        Not part of the description.
        """
        return Result(table=None)

    def no_doc(config: TinyConfig) -> Result:
        return Result(table=None)

    def no_annotation(config) -> Result:
        """x"""
        return Result(table=None)

    try:
        experiment("test-defaults", family="test")(run_tiny)
        exp = get_experiment("test-defaults")
        assert exp.config_cls is TinyConfig
        assert exp.description == "tiny check: first paragraph, on two lines."
        with pytest.raises(TypeError, match="'test-no-doc': give no_doc a docstring"):
            experiment("test-no-doc", family="test")(no_doc)
        with pytest.raises(TypeError, match="'test-no-ann': annotate no_annotation's `config`"):
            experiment("test-no-ann", family="test")(no_annotation)
        assert "test-no-doc" not in _REGISTRY and "test-no-ann" not in _REGISTRY
    finally:
        _REGISTRY.pop("test-defaults", None)


def test_cli_list_shows_every_experiment():
    res = CliRunner().invoke(app, ["list"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == len(all_experiments())
    demo = next(line for line in lines if line.startswith("demo-mean"))
    assert "[demo]" in demo and "sample mean" in demo
    names = CliRunner().invoke(app, ["list", "--names"]).output.split()
    assert names == list(all_experiments())


def test_a_config_without_cost_is_refused_at_registration():
    def run(config):
        return Result(table=None)

    with pytest.raises(TypeError, match=r"'test-no-cost': NoCostConfig must implement cost\(\)"):
        experiment("test-no-cost", config=NoCostConfig, description="x", family="test")(run)
    assert "test-no-cost" not in _REGISTRY


@pytest.mark.parametrize("name", list(all_experiments()))
def test_every_registered_experiment_estimates_its_cost(name):
    exp = get_experiment(name)
    for quick in (True, False):
        cost = exp.make_config(quick=quick).cost()
        assert isinstance(cost, Cost)
        assert cost.memory_bytes > 0 and cost.flops > 0 and cost.what


def test_the_source_index_names_the_module_of_every_experiment():
    # get_experiment imports only the module whose source registers the name; that index must
    # agree with full discovery for every built-in experiment, or it would import the wrong one
    from attnlab.registry import _module_registering

    for name, exp in all_experiments().items():
        if exp.family in ("test", "user"):
            continue
        assert _module_registering(name) == exp.run.__module__, name
    assert _module_registering("no-such-experiment") is None


def test_running_one_experiment_imports_only_its_family():
    import subprocess
    import sys

    code = (
        "import sys; from attnlab.registry import get_experiment;"
        "exp = get_experiment('demo-mean'); exp.make_config(quick=True);"
        "fams = {m.split('.')[1] for m in sys.modules if m.startswith('attnlab.')"
        " and m.count('.') >= 2 and '.experiments' in m};"
        "print(sorted(fams))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['demo']"], out.stdout + out.stderr
