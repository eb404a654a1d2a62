"""The family's experiments: registered, validated, costed, and a failure is never a pass."""

from __future__ import annotations

import pytest

from attnlab._validate import ParameterError
from attnlab.gslr.experiments.finite import case_model
from attnlab.registry import get_experiment

NAMES = ["slr-population", "slr-finite", "slr-init", "slr-bayes-optimal"]


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_quick_preset_and_cost(name):
    exp = get_experiment(name)
    assert exp.quick and exp.plot is not None
    cfg = exp.make_config(quick=True)
    cost = cfg.cost()
    assert 0 < cost.memory_bytes < 2e9 and 0 < cost.flops < 1e13


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("slr-finite", {"dim": 10**6, "alphas_erm": [1000.0]}),
        ("slr-finite", {"n_seeds": 10**4, "replica.n_mc": 10**7}),
        ("slr-init", {"dim": 10**6}),
        ("slr-bayes-optimal", {"dim": 20_000, "alphas_gamp": [1e4]}),
        ("slr-population", {"n_mc": 10**7, "max_nus": [1.0] * 200}),
    ],
)
def test_huge_configs_cost_more_than_the_machine(name, overrides):
    cost = get_experiment(name).make_config(overrides).cost()
    assert cost.memory_bytes > 1e12 or cost.flops > 1e12


@pytest.mark.parametrize(
    "overrides",
    [
        {"alphas_erm": [0.0]},
        {"r": -0.1},
        {"r": float("inf")},
        {"activations": ["relu"]},
        {"cases": ["max:-2"]},
        {"cases": ["spiked"]},
        {"nu": float("nan")},
        {"delta": float("inf")},
        {"n_seeds": 1},
        {"replica.n_mc": 10},
        {"init": "teacher"},
    ],
)
def test_finite_config_rejects_bad_values(overrides):
    with pytest.raises(ParameterError) as err:
        get_experiment("slr-finite").make_config(overrides, quick=True)
    assert "\n" not in str(err.value)


def test_tiny_population_run():
    exp = get_experiment("slr-population")
    cfg = exp.make_config(
        {"nus": [0.25], "max_nus": [], "lengths": [2], "activations": ["softmax", "linear"]}
    )
    res = exp.run(cfg)
    assert res.status == "passed" and len(res.comparisons) == 2
    t = res.table.set_index("activation")
    assert abs(t.loc["softmax", "gap"]) < 1e-6
    # spiked, L = 2, ν = 1/4: linear optimum 1/(1 + 1/8 + 1) = 8/17
    assert t.loc["linear", "risk"] == pytest.approx(8 / 17, abs=1e-8)
    assert t.loc["linear", "gap"] > 0.02


def test_pure_noise_labels_are_not_a_pass():
    """Δ = 10⁶ leaves nothing to learn: the run must not pass (it once reported 0/0 rows with
    every replica point unconverged as "all passed")."""
    exp = get_experiment("slr-finite")
    cfg = exp.make_config(
        {
            "delta": 1e6,
            "replica.n_mc": 200,
            # a short cap: what is tested is that unconverged points are not a pass
            "replica.max_iter": 60,
            "bayes_se.n_mc": 1000,
            "n_test": 200,
            "dim": 50,
            "n_seeds": 2,
            "activations": ["softmax"],
            "alphas_theory": [5.0],
            "alphas_erm": [5.0],
        },
        quick=True,
    )
    res = exp.run(cfg)
    assert res.status != "passed"
    assert res.reasons and all(("uninformative" in r) or ("dropped" in r) for r in res.reasons)


@pytest.mark.parametrize(
    "overrides",
    [{"cases": ["max:0"]}, {"cases": ["mixed:1"]}, {"alphas_gamp": [-1.0]}, {"n_seeds": 1}],
)
def test_bayes_optimal_config_rejects_bad_values(overrides):
    with pytest.raises(ParameterError) as err:
        get_experiment("slr-bayes-optimal").make_config(overrides, quick=True)
    assert "\n" not in str(err.value)


def test_bayes_optimal_uses_more_teachers_at_low_alpha():
    # the full preset: 12 teachers at α ≤ 1 (where GAMP's gain over the trivial predictor is
    # small), 6 elsewhere; the GAMP rows follow it
    from attnlab.gslr.experiments.bayes_optimal import _gamp_rows

    cfg = get_experiment("slr-bayes-optimal").make_config({}, quick=False)
    assert [cfg.seeds_at(a) for a in (0.5, 1.0, 3.0, 8.0)] == [12, 12, 6, 6]
    assert cfg.max_seeds() == 12
    small = cfg.replace(alphas_gamp=[0.5, 3.0], dim=40, n_seeds=2, n_seeds_low_alpha=3,
                        gamp=cfg.gamp.replace(n_test=200, max_iter=5))  # fmt: skip
    rows = _gamp_rows(case_model(small.model, "spiked:2"), small, "spiked:2")
    assert [r["alpha"] for r in rows] == [0.5] * 3 + [3.0] * 2


def test_finite_bayes_optimal_floor():
    """The floor drawn on slr-finite: one finite value per α of the replica grid for the cases
    where it is defined (max-SLR at ν = 0 is skipped), decreasing in α and below the trivial
    predictor's Δ + 1 = 1."""
    from attnlab.gslr.experiments.finite import bayes_optimal_rows

    cfg = get_experiment("slr-finite").make_config(
        {
            "cases": ["spiked:2", "max:0"],
            "alphas_theory": [0.5, 4.0],
            "alphas_erm": [8.0],
            "bayes_se.n_mc": 2000,
        },
        quick=True,
    )
    rows = bayes_optimal_rows(cfg)
    assert [r["case"] for r in rows] == ["spiked:2"] * 3
    errors = [r["test_error"] for r in rows]
    assert all(0 < e < 1 for e in errors) and errors[0] > errors[1] > errors[2]


def test_finite_extra_seeds_only_at_low_alpha(monkeypatch):
    """n_seeds_low_alpha seeds at α ≤ low_alpha, n_seeds above; the extra seeds are further
    replicates (their keys follow the first n_seeds, their seed indices continue), nested along
    the low α only. ERM itself is replaced by a recorder: the routing is what is tested."""
    from attnlab.gslr.experiments import finite

    calls = []

    def fake_erm_curve(model, activation, keys, *, alphas, **kwargs):
        calls.append((len(keys), list(alphas)))
        return [{"seed": s, "alpha": a} for s in range(len(keys)) for a in alphas]

    monkeypatch.setattr(finite, "erm_curve", fake_erm_curve)
    cfg = get_experiment("slr-finite").make_config(
        {"alphas_erm": [1.0, 4.0, 8.0], "low_alpha": 4.0, "n_seeds": 2, "n_seeds_low_alpha": 5},
        quick=True,
    )
    rows = finite.erm_fits(cfg, case_model(cfg.model, "spiked:2"), "softmax", list(range(5)), None)
    assert calls == [(2, [1.0, 4.0, 8.0]), (3, [1.0, 4.0])]
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(
        [(a, s) for a in (1.0, 4.0) for s in range(5)] + [(8.0, 0), (8.0, 1)]
    )


def test_finite_does_not_compare_where_replica_symmetry_breaks():
    """Linear attention at the interpolation peak (spiked ν = 2, α = 2): the kept replica point
    has replicon ≈ 1.1 > 1 (RS locally unstable; ERM finds a lower objective than the RS
    prediction there), so the RS curve is not compared with ERM at that α: the α is listed
    with its replicon, and no comparison row is made for it. At α = 10 (replicon ≈ 0.3) the
    row is made."""
    from attnlab.gslr import InformedInit
    from attnlab.gslr.experiments.finite import finite_tables

    cfg = get_experiment("slr-finite").make_config(
        {"cases": ["spiked:2"], "activations": ["linear"], "alphas_theory": [2.0],
         "alphas_erm": [2.0, 10.0], "dim": 60, "n_seeds": 2, "n_seeds_low_alpha": 2,
         "n_test": 500, "replica.n_mc": 4000, "bayes_optimal": False},
        quick=True,
    )  # fmt: skip
    listed: list[str] = []
    _, comps, dropped = finite_tables(
        cfg, {"informed": InformedInit()}, rs_gate=True, not_compared=listed
    )
    assert len(listed) == 1 and "α=2" in listed[0]
    assert float(listed[0].rsplit("replicon ", 1)[1]) > 1
    assert [c.where.rsplit("α=", 1)[1] for c in comps] + [d.where for d in dropped] == ["10"]
