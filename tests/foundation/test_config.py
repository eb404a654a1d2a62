"""Configs: TOML round trip, canonical hash, overrides, one-line errors naming field/value/range."""

from __future__ import annotations

import hashlib
import math

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.config import (
    ConfigError,
    ExperimentConfig,
    build_config,
    describe_fields,
    load_toml_file,
    parse_overrides,
    parse_value,
)


class SampleConfig(ExperimentConfig):
    """A config with one field of each kind used by the families."""

    d: int = pydantic.Field(100, ge=2, description="dimension")
    theta: float = pydantic.Field(0.25, ge=0, le=1, description="signal strength")
    lam: float = pydantic.Field(1.0, gt=0)
    mu: float = 0.0
    method: str = "sga"
    normalise: bool = True
    ells: tuple[float, ...] = (0.5, 1.0)

    @pydantic.field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v not in ("sga", "gd"):
            raise ValueError("must be one of 'sga', 'gd'")
        return v


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
sample_values = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**63 - 1),
        "d": st.integers(2, 10**9),
        "theta": st.floats(0, 1),
        "lam": st.floats(min_value=0, exclude_min=True, allow_infinity=False),
        "mu": finite,
        "method": st.sampled_from(["sga", "gd"]),
        "normalise": st.booleans(),
        "ells": st.lists(finite, max_size=5).map(tuple),
    }
)


@settings(max_examples=60, deadline=None)
@given(sample_values)
def test_toml_round_trip_is_exact(values):
    cfg = build_config(SampleConfig, values)
    back = SampleConfig.from_toml(cfg.to_toml())
    assert back == cfg
    assert back.config_hash() == cfg.config_hash()


@settings(max_examples=40, deadline=None)
@given(sample_values, st.data())
def test_hash_ignores_field_order_and_changes_with_every_value(values, data):
    cfg = build_config(SampleConfig, values)
    reordered = build_config(SampleConfig, dict(reversed(list(values.items()))))
    assert reordered.config_hash() == cfg.config_hash()
    # change one field to a different valid value: the hash must change
    key = data.draw(st.sampled_from(sorted(values)))
    new = data.draw(sample_values)[key]
    changed = build_config(SampleConfig, {**values, key: new})
    assert (changed.config_hash() == cfg.config_hash()) == (changed == cfg)


def test_hash_is_independent_of_declaration_order():
    class A(ExperimentConfig):
        x: int = 1
        y: float = 2.0

    first = A(x=3, y=0.5).config_hash()

    class A(ExperimentConfig):  # noqa: F811 - same name, fields declared the other way round
        y: float = 2.0
        x: int = 1

    assert A(y=0.5, x=3).config_hash() == first


def test_hash_is_canonical_and_pinned():
    # Stored results are named by this hash, so its canonical form is pinned: sha256 of the
    # compact, key-sorted JSON of {"class": <class name>, "fields": <JSON dump of the fields>}.
    payload = (
        '{"class":"SampleConfig","fields":{"d":100,"ells":[0.5,1.0],"lam":1.0,"method":"sga",'
        '"mu":0.0,"normalise":true,"seed":0,"theta":0.25}}'
    )
    cfg = SampleConfig()
    assert cfg.config_hash() == hashlib.sha256(payload.encode()).hexdigest()
    assert cfg.config_hash() == "0fd76d4ed04992985902a285d866942749454ef2c3c50fa0d0921d9dd371cb6d"


def test_int_and_float_spellings_hash_alike():
    a = build_config(SampleConfig, parse_overrides(["theta=1", "lam=2"]))
    b = build_config(SampleConfig, {"theta": 1.0, "lam": 2.0})
    assert a == b and a.config_hash() == b.config_hash()


def test_different_classes_with_same_fields_hash_differently():
    class Other(ExperimentConfig):
        pass

    class Another(ExperimentConfig):
        pass

    assert Other().config_hash() != Another().config_hash()


def test_replace_validates():
    cfg = SampleConfig()
    assert cfg.replace(d=400).d == 400
    with pytest.raises(ConfigError, match=r"d = 1: Input should be greater than or equal to 2"):
        cfg.replace(d=1)


def test_config_is_frozen():
    with pytest.raises(pydantic.ValidationError):
        SampleConfig().d = 3  # type: ignore[misc]


# -- error messages: one line, naming field, value and valid range ------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"d": 1}, "d = 1: Input should be greater than or equal to 2"),
        ({"theta": 1.5}, "theta = 1.5: Input should be less than or equal to 1"),
        ({"lam": 0}, "lam = 0: Input should be greater than 0"),
        ({"d": "abc"}, "d = 'abc': Input should be a valid integer"),
        ({"d": 2.5}, "d = 2.5: Input should be a valid integer"),
        ({"method": "adam"}, "method = 'adam': must be one of 'sga', 'gd'"),
        ({"mu": math.nan}, "mu = nan: Input should be a finite number"),
        ({"mu": math.inf}, "mu = inf: Input should be a finite number"),
        ({"d": True}, "d = True: a boolean is not a number"),
        ({"ells": [1.0, math.nan]}, "ells.1 = nan: Input should be a finite number"),
        ({"seed": -1}, "seed = -1: Input should be greater than or equal to 0"),
        ({"dd": 3}, "unknown field 'dd' (valid fields: d, ells, lam, method, mu, normalise, seed"),
    ],
)
def test_errors_are_one_line_and_name_field_value_range(values, expected):
    with pytest.raises(ConfigError) as info:
        build_config(SampleConfig, values)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("invalid config for SampleConfig: ")
    assert expected in msg


def test_several_errors_are_reported_together():
    with pytest.raises(ConfigError) as info:
        build_config(SampleConfig, {"d": 0, "theta": -1})
    assert "d = 0" in str(info.value) and "theta = -1" in str(info.value)


def test_bad_toml_text_is_one_line():
    with pytest.raises(ConfigError, match="invalid TOML for SampleConfig") as info:
        SampleConfig.from_toml("d = = 3")
    assert "\n" not in str(info.value)


def test_toml_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.toml"):
        load_toml_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("d = [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_toml_file(bad)
    good = tmp_path / "good.toml"
    good.write_text(SampleConfig(d=7).to_toml())
    assert SampleConfig.from_toml_file(good) == SampleConfig(d=7)


# -- --set parsing ------------------------------------------------------------------------------
def test_parse_value_reads_toml_literals_else_strings():
    assert parse_value("400") == 400
    assert parse_value("0.25") == 0.25
    assert parse_value("1e3") == 1000.0
    assert parse_value("true") is True
    assert parse_value("[1, 2.5]") == [1, 2.5]
    assert parse_value("sga") == "sga"
    assert parse_value('"400"') == "400"


def test_parse_overrides():
    assert parse_overrides(["d=400", " theta = 0.25 "]) == {"d": 400, "theta": 0.25}
    cfg = build_config(SampleConfig, parse_overrides(["d=400", "ells=[1, 2]", "method=gd"]))
    assert (cfg.d, cfg.ells, cfg.method) == (400, (1.0, 2.0), "gd")


@pytest.mark.parametrize("item", ["d", "=3", "d=", " = "])
def test_malformed_set_is_rejected(item):
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE"):
        parse_overrides([item])


def test_duplicate_set_is_rejected():
    with pytest.raises(ConfigError, match="--set d given twice"):
        parse_overrides(["d=3", "d=4"])


def test_describe_fields_reports_types_defaults_and_ranges():
    rows = {r["name"]: r for r in describe_fields(SampleConfig)}
    assert list(rows) == ["seed", "d", "theta", "lam", "mu", "method", "normalise", "ells"]
    assert rows["d"] == {
        "name": "d",
        "type": "int",
        "default": 100,
        "range": "[2, inf)",
        "description": "dimension",
    }
    assert rows["theta"]["range"] == "[0, 1]"
    assert rows["lam"]["range"] == "(0, inf)"
    assert rows["mu"]["range"] == "" and rows["ells"]["default"] == (0.5, 1.0)
    assert rows["ells"]["type"] == "tuple[float, ...]"


# -- fuzz: any value, any TOML, any bytes -> a config or ONE line of ConfigError -----------------
# Values of every TOML-reachable type (and a few more), including the non-finite floats and the
# booleans that must never pass as numbers.
any_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # nan and ±inf included
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
FIELDS = ["seed", "n", "n_seeds", "sleep_s", "mu", "model", "model.mu", "zz", "model.zz", ""]


def _one_line_config_error_or_config(fn):
    from attnlab.demo.experiments.mean import DemoMeanConfig

    try:
        cfg = fn()
    except ConfigError as err:
        assert "\n" not in str(err) and str(err), repr(str(err))
        return None
    assert isinstance(cfg, DemoMeanConfig)
    # a valid config holds only finite numbers, and never a boolean for a number
    for v in (cfg.n, cfg.n_seeds, cfg.sleep_s, cfg.model.mu, cfg.seed):
        assert not isinstance(v, bool) and math.isfinite(v)
    return cfg


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), any_value, max_size=4))
def test_fuzz_field_values(values):
    from attnlab.demo.experiments.mean import DemoMeanConfig

    cfg = _one_line_config_error_or_config(lambda: build_config(DemoMeanConfig, values))
    if cfg is not None:  # and it round-trips through TOML exactly
        assert DemoMeanConfig.from_toml(cfg.to_toml()) == cfg


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), st.text(max_size=16)), max_size=4))
def test_fuzz_cli_overrides(items):
    from attnlab.demo.experiments.mean import DemoMeanConfig

    def parse():
        return build_config(DemoMeanConfig, parse_overrides(f"{k}={v}" for k, v in items))

    _one_line_config_error_or_config(parse)


toml_snippet = st.lists(
    st.sampled_from(FIELDS[:-1]).flatmap(
        lambda key: st.sampled_from(
            [
                "1",
                "-3",
                "0.5",
                "1e400",
                "nan",
                "inf",
                "-inf",
                "true",
                '"x"',
                "[1, 2]",
                "{mu = 1.0}",
                "[]",
                "= =",
                "",
                "1979-05-27",
                "0x10",
                "'''ml'''",
            ]
        ).map(lambda v: f"{key} = {v}")
    )
    | st.sampled_from(["[model]", "mu = 2.0", "[model", "[[model]]", "# c", '"\\u0000" = 1']),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(toml_snippet | st.text(max_size=40).map(lambda t: [t]))
def test_fuzz_toml_text(lines):
    from attnlab.demo.experiments.mean import DemoMeanConfig

    _one_line_config_error_or_config(lambda: DemoMeanConfig.from_toml("\n".join(lines)))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_config_file_bytes(tmp_path_factory, data):
    from attnlab.demo.experiments.mean import DemoMeanConfig

    f = tmp_path_factory.mktemp("fuzz") / "c.toml"
    f.write_bytes(data)
    _one_line_config_error_or_config(lambda: DemoMeanConfig.from_toml_file(f))
