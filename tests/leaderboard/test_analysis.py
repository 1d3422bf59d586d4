"""The analysis builders on hand-made result records, against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from leaderboard import analysis

# ---------------------------------------------------------------------------------------- records


def test_records_flatten_into_runs_tasks_families_and_slots_in_release_order(make_record):
    rec = make_record(
        "s1",
        "org/a",
        accuracy=0.7,
        ci=(0.65, 0.75),
        tasks={"law": {"accuracy": 0.6}, "math": {"accuracy": 0.8}},
        families={"typos": {"accuracy": 0.69}},
        slots={
            "original": ("original", 0.72),
            "typos-p0.05-r1": ("typos", 0.68),
            "casing-lower": ("casing", 0.7),
        },
    )
    frames = analysis.load_results([rec])
    run = frames.runs.iloc[0]
    assert (run["model"], run["release"], run["accuracy"]) == ("org/a", "bench@1.0.0", 0.7)
    assert (run["accuracy_lo"], run["accuracy_hi"]) == (0.65, 0.75)
    assert run["consistency_excess_independence"] == pytest.approx(0.1)
    assert run["consistency_excess_independence_lo"] == pytest.approx(0.05)
    assert sorted(frames.tasks["task"]) == ["law", "math"]
    assert frames.tasks.set_index("task").loc["math", "accuracy"] == 0.8
    assert "accuracy_lo" not in frames.tasks  # per-task CIs are not loaded (no view shows them)
    assert frames.families.iloc[0]["accuracy"] == 0.69
    # per_slot is keyed alphabetically in the JSON; the `slots` list gives the release's order
    assert frames.slots["variant_id"].tolist() == ["original", "typos-p0.05-r1", "casing-lower"]
    assert frames.slots["family"].tolist() == ["original", "typos", "casing"]


def test_null_metrics_become_nan_not_zero(make_record):
    rec = make_record("s1", "org/a", metrics={"pdr": None})
    frames = analysis.load_results([rec])
    assert math.isnan(frames.runs.iloc[0]["pdr"])


def test_latest_scoring_of_a_model_revision_on_a_release_wins(make_record):
    old = make_record("old", "org/a", accuracy=0.5, scored_at="2026-01-01T00:00:00.000000Z", tasks={"t": {}})
    new = make_record("new", "org/a", accuracy=0.6, scored_at="2026-02-01T00:00:00.000000Z", tasks={"t": {}})
    other_revision = make_record("rev2", "org/a", revision="v2", scored_at="2026-01-15T00:00:00.000000Z")
    frames = analysis.load_results([new, old, other_revision])
    assert sorted(frames.runs["submission_id"]) == ["new", "rev2"]
    assert frames.tasks["submission_id"].tolist() == ["new"]


# ---------------------------------------------------------------------------------------- ranking


def test_tie_groups_share_the_rank_of_their_leader():
    ids = ["a", "b", "c", "d", "e"]
    scores = [0.90, 0.88, 0.86, 0.70, 0.69]

    def separated(x, y):
        return abs(scores[ids.index(x)] - scores[ids.index(y)]) > 0.05

    assert analysis.tie_group_ranks(ids, scores, separated) == {"a": 1, "b": 1, "c": 1, "d": 4, "e": 4}


def test_tie_groups_do_not_chain_through_neighbours():
    # every neighbour pair is 0.04 apart (not separated), but c is 0.08 from a: c leads a new group
    ids, scores = ["a", "b", "c", "d"], [0.90, 0.86, 0.82, 0.78]
    tested = []

    def separated(x, y):
        tested.append((x, y))
        return abs(scores[ids.index(x)] - scores[ids.index(y)]) > 0.05

    assert analysis.tie_group_ranks(ids, scores, separated) == {"a": 1, "b": 1, "c": 3, "d": 3}
    assert tested == [("a", "b"), ("a", "c"), ("c", "d")]  # each candidate against its group's leader only


def test_models_without_a_score_are_unranked_and_ties_in_score_break_by_id():
    ranks = analysis.tie_group_ranks(["b", "a", "z"], [0.5, 0.5, math.nan], lambda x, y: True)
    assert ranks["a"] == 1 and ranks["b"] == 2 and math.isnan(ranks["z"])


def test_ci_fallback_separates_only_disjoint_intervals():
    assert analysis.ci_separated(0.7, 0.8, 0.5, 0.65)
    assert not analysis.ci_separated(0.7, 0.8, 0.6, 0.71)
    assert not analysis.ci_separated(0.7, 0.8, math.nan, 0.6)


# ----------------------------------------------------------------------------------------- tables


@pytest.fixture
def board_frames(make_record):
    records = [
        make_record(
            "s1",
            "org/big",
            accuracy=0.8,
            params_b=70.0,
            model_type="instruction-tuned",
            tasks={"law": {"accuracy": 0.7}, "math": {"accuracy": 0.9}},
            families={"typos": {"accuracy": 0.79}},
        ),
        make_record(
            "s2",
            "org/small",
            accuracy=0.6,
            params_b=1.0,
            model_type="pretrained",
            tasks={"law": {"accuracy": 0.5}, "math": {"accuracy": 0.7}},
        ),
        make_record(
            "s3", "other/unknown", accuracy=0.7, params_b=None, model_type="baseline", submitter="=cmd|x"
        ),
        make_record("s4", "org/big", accuracy=0.75, release=("bench", "2.0.0"), params_b=70.0),
        make_record("s5", "org/big", accuracy=0.9, release=("bench", "1.10.0"), params_b=70.0),
    ]
    return analysis.load_results(records)


def test_table_defaults_to_latest_version_ranked_then_filters(board_frames):
    ranks = {"s1": 1.0, "s2": 3.0, "s3": 2.0, "s4": 1.0, "s5": 1.0}
    table = analysis.leaderboard_table(board_frames, ranks, analysis.TableQuery())
    assert table["submission_id" if "submission_id" in table else "model"].tolist() == ["org/big"]
    assert table["release"].tolist() == ["bench@2.0.0"]  # 2.0.0 > 1.10.0 > 1.0.0 numerically

    query = analysis.TableQuery(release="bench@1.0.0")
    table = analysis.leaderboard_table(board_frames, ranks, query)
    assert table["model"].tolist() == ["org/big", "other/unknown", "org/small"]
    assert table["rank"].tolist() == [1.0, 2.0, 3.0]

    by_type = analysis.leaderboard_table(
        board_frames, ranks, analysis.TableQuery(release="bench@1.0.0", types=("pretrained", "baseline"))
    )
    assert by_type["model"].tolist() == ["other/unknown", "org/small"]
    small = analysis.leaderboard_table(
        board_frames, ranks, analysis.TableQuery(release="bench@1.0.0", max_params_b=10)
    )
    assert small["model"].tolist() == ["other/unknown", "org/small"]  # unknown size kept by default
    known = analysis.leaderboard_table(
        board_frames,
        ranks,
        analysis.TableQuery(release="bench@1.0.0", max_params_b=10, include_unknown_size=False),
    )
    assert known["model"].tolist() == ["org/small"]
    found = analysis.leaderboard_table(
        board_frames, ranks, analysis.TableQuery(release=analysis.ALL, search="SMALL")
    )
    assert found["model"].tolist() == ["org/small"]


def test_per_task_and_per_family_columns_and_sorting(board_frames):
    query = analysis.TableQuery(
        release="bench@1.0.0", task_columns=("math", "law"), family_columns=("typos",), sort_by="task: law"
    )
    table = analysis.leaderboard_table(board_frames, {}, query)
    assert table["model"].tolist() == ["org/big", "org/small", "other/unknown"]  # NaN last
    assert table["task: law"].tolist()[:2] == [0.7, 0.5]
    assert table["task: math"].tolist()[:2] == [0.9, 0.7]
    assert table["family: typos"].tolist()[0] == 0.79 and math.isnan(table["family: typos"].tolist()[1])
    ascending = analysis.leaderboard_table(
        board_frames, {}, analysis.TableQuery(release="bench@1.0.0", sort_by="accuracy", descending=False)
    )
    assert ascending["accuracy"].tolist() == [0.6, 0.7, 0.8]
    by_pdr = analysis.TableQuery(release="bench@1.0.0", columns=("pdr",), sort_by="pdr")
    assert not analysis.natural_descending("pdr") and analysis.natural_descending("kappa")
    assert len(analysis.leaderboard_table(board_frames, {}, by_pdr)) == 3


def test_csv_download_neutralises_formula_text_but_not_numbers(board_frames):
    query = analysis.TableQuery(release="bench@1.0.0", columns=("pdr", "submitter"))
    table = analysis.leaderboard_table(board_frames, {}, query)
    table.loc[0, "pdr"] = -0.25
    text = analysis.table_to_csv(table)
    assert "'=cmd|x" in text and "\n=cmd" not in text and ",=cmd" not in text
    assert ",-0.25," in text  # a negative number stays a number
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert analysis.neutralise_csv_cell(start + "1") == "'" + start + "1"
    assert analysis.neutralise_csv_cell("plain") == "plain" and analysis.neutralise_csv_cell(-1.5) == -1.5


def test_json_records_have_null_for_missing_values(board_frames):
    table = analysis.leaderboard_table(board_frames, {}, analysis.TableQuery(release="bench@1.0.0"))
    records = analysis.table_to_records(table)
    assert records[0]["rank"] is None and isinstance(records[0]["accuracy"], float)
    assert any(r["params_b"] is None for r in records)


# ---------------------------------------------------------------------------------- correlations


def test_trivial_curves():
    p = np.array([0.0, 0.5, 0.9])
    np.testing.assert_allclose(
        analysis.trivial_curve("correctness_agreement", p, n_slots=4, n_options=4), [1.0, 0.5, 0.82]
    )
    np.testing.assert_allclose(
        analysis.trivial_curve("consistency", p, n_slots=4, n_options=4),
        [1 / 3, 0.25 + 0.25 / 3, 0.81 + 0.01 / 3],
    )
    np.testing.assert_allclose(
        analysis.trivial_curve("consistency", p, n_slots=4, n_options=2),
        analysis.trivial_curve("correctness_agreement", p, n_slots=4, n_options=2),
    )
    np.testing.assert_allclose(
        analysis.trivial_curve("worst_case_accuracy", p, n_slots=3, n_options=4), [0.0, 0.125, 0.729]
    )
    assert not analysis.trivial_curve("kappa", p, n_slots=3, n_options=4).any()
    assert analysis.trivial_curve("spread", p, n_slots=3, n_options=4) is None


def _points(n_models: int = 12, n_tasks: int = 6, seed: int = 0, ties: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    skill, ease = rng.normal(size=n_models), rng.normal(size=n_tasks)
    x = 1 / (1 + np.exp(-(skill[:, None] + ease[None, :])))
    y = x**2 + (1 - x) ** 2 + 0.1 * ease[None, :] + rng.normal(0, 0.05, (n_models, n_tasks))
    if ties:
        x = np.round(x, 1)
    return pd.DataFrame(
        {
            "model": np.repeat([f"m{i:02d}" for i in range(n_models)], n_tasks),
            "task": np.tile([f"t{j}" for j in range(n_tasks)], n_models),
            "x": x.ravel(),
            "y": y.ravel(),
        }
    )


def test_correlation_point_estimates_and_p_values_match_scipy():
    points = _points()
    table = analysis.correlation_table(points, n_resamples=200)
    for _, row in table.iterrows():
        group = (
            points if row["scope"] == "pooled" else points[points[row["scope"].split()[1]] == row["group"]]
        )
        x, y = group["x"].to_numpy(), group["y"].to_numpy()
        pearson, spearman, kendall = stats.pearsonr(x, y), stats.spearmanr(x, y), stats.kendalltau(x, y)
        assert row["n"] == len(x)
        assert row["pearson_r"] == pytest.approx(pearson.statistic, abs=1e-12)
        assert row["pearson_p"] == pytest.approx(pearson.pvalue, rel=1e-6)
        assert row["spearman_rho"] == pytest.approx(spearman.statistic, abs=1e-6)
        if len(x) >= analysis.SPEARMAN_P_MIN_N:
            assert row["spearman_p"] == pytest.approx(spearman.pvalue, rel=1e-4)
        else:  # too few points for the t approximation: no p rather than a misleading one
            assert math.isnan(row["spearman_p"])
        assert row["kendall_tau"] == pytest.approx(kendall.statistic, abs=1e-6)
        assert row["kendall_p"] == pytest.approx(kendall.pvalue, rel=1e-6)
    assert table["scope"].tolist() == ["pooled"] + ["per task"] * 6 + ["per model"] * 12


@pytest.mark.parametrize("n", [3, 8, 33, 34, 120])
@pytest.mark.parametrize("decimals", [None, 1])
def test_vectorised_kendall_is_scipys_exact_and_asymptotic_test(n, decimals):
    rng = np.random.default_rng(n)
    x = rng.random((5, n))
    y = x + rng.random((5, n))
    if decimals is not None:  # ties: scipy switches to the tie-corrected normal approximation
        x, y = np.round(x, decimals), np.round(y, decimals)
    tau, p = analysis.kendall_tests(x, y)
    for j in range(5):
        expected = stats.kendalltau(x[j], y[j])
        assert tau[j] == pytest.approx(expected.statistic, abs=1e-12, nan_ok=True)
        assert p[j] == pytest.approx(expected.pvalue, rel=1e-9, nan_ok=True)


def test_pearson_ci_is_fishers_z_by_hand():
    r, n = 0.6, 28
    half = 1.959963984540054 / math.sqrt(n - 3)
    lo, hi = analysis.fisher_ci(r, n)
    assert (lo, hi) == pytest.approx((math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)))
    assert analysis.fisher_ci(0.5, 3) == (pytest.approx(math.nan, nan_ok=True),) * 2


def test_rank_kernel_equals_scipy_on_every_expanded_resample_with_ties():
    rng = np.random.default_rng(3)
    x = np.round(rng.random((4, 30)), 1)
    y = np.round(x + rng.random((4, 30)), 1)
    counts = np.vstack([np.ones((1, 30), int), analysis.resample_counts(rng, 30, 8)])
    assert (counts.sum(axis=1) == 30).all()
    rho, tau = analysis.rank_correlations(x, y, counts)
    for b in range(len(counts)):
        draw = np.repeat(np.arange(30), counts[b])
        for g in range(4):
            assert rho[b, g] == pytest.approx(stats.spearmanr(x[g, draw], y[g, draw]).statistic, abs=1e-5)
            assert tau[b, g] == pytest.approx(stats.kendalltau(x[g, draw], y[g, draw]).statistic, abs=1e-5)


def test_bootstrap_ci_is_the_percentile_interval_of_resampled_statistics():
    points = _points(n_models=20, n_tasks=1, ties=False)
    table = analysis.correlation_table(points, n_resamples=300, seed=7)
    row = table.iloc[0]
    rng = np.random.default_rng(analysis.stable_seed(7, "resamples", 20) % (2**63))
    counts = analysis.resample_counts(rng, 20, 300)
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    values = [
        stats.spearmanr(x[np.repeat(np.arange(20), c)], y[np.repeat(np.arange(20), c)]).statistic
        for c in counts
    ]
    expected = np.nanquantile(values, [0.025, 0.975])
    assert (row["spearman_lo"], row["spearman_hi"]) == pytest.approx(tuple(expected), abs=1e-5)
    assert row["spearman_lo"] <= row["spearman_rho"] <= row["spearman_hi"]
    assert row["kendall_lo"] <= row["kendall_tau"] <= row["kendall_hi"]
    assert row["ci_method"] == "percentile bootstrap, 300 resamples"


def test_a_groups_interval_does_not_depend_on_the_other_groups():
    points = _points()
    full = analysis.correlation_table(points, n_resamples=200).set_index(["scope", "group"])
    some = analysis.correlation_table(
        points[points["model"] != "m03"], n_resamples=200, scopes=("per model",)
    ).set_index(["scope", "group"])
    assert some.loc[("per model", "m05"), "kendall_lo"] == full.loc[("per model", "m05"), "kendall_lo"]


def test_small_and_degenerate_groups_have_no_interval():
    points = pd.DataFrame(
        {
            "model": ["a", "b", "c", "d"],
            "task": ["t"] * 4,
            "x": [0.1, 0.2, 0.3, 0.4],
            "y": [0.2, 0.1, 0.4, 0.3],
        }
    )
    row = analysis.correlation_table(points, scopes=()).iloc[0]
    assert row["n"] == 4 and math.isnan(row["spearman_lo"]) and "fewer than 5" in row["ci_method"]
    constant = points.assign(y=0.5)
    row = analysis.correlation_table(constant, scopes=()).iloc[0]
    assert math.isnan(row["pearson_r"]) and row["ci_method"].startswith("undefined")


def test_large_groups_use_fieller_intervals():
    points = _points(n_models=300, n_tasks=10)
    row = analysis.correlation_table(points, scopes=(), n_resamples=100).iloc[0]
    assert row["n"] == 3000 and "Fieller" in row["ci_method"]
    half = 1.959963984540054 * math.sqrt(1.06 / (3000 - 3))
    assert row["spearman_hi"] == pytest.approx(math.tanh(math.atanh(row["spearman_rho"]) + half))


# ---------------------------------------------------------------------------- variance decomposition


def _design(n_models: int = 5, n_tasks: int = 4) -> pd.DataFrame:
    models = np.repeat([f"m{i}" for i in range(n_models)], n_tasks)
    tasks = np.tile([f"t{j}" for j in range(n_tasks)], n_models)
    return pd.DataFrame({"model": models, "task": tasks})


def test_decomposition_of_a_purely_additive_balanced_design():
    design = _design()
    task_effect = {"t0": 0.0, "t1": 0.2, "t2": 0.4, "t3": 0.6}
    model_effect = {f"m{i}": 0.05 * i for i in range(5)}
    design["y"] = design["task"].map(task_effect) + design["model"].map(model_effect)
    # accuracy as an interaction pattern a_model·b_task (both centred): orthogonal to both factors
    a = design["model"].str[1].astype(int) - 2
    b = design["task"].str[1].astype(int) - 1.5
    design["x"] = 0.5 + 0.02 * a * b
    table = analysis.variance_decomposition(design).set_index("term")
    # balanced: SS_task = 5·Σ(t−t̄)², SS_model = 4·Σ(m−m̄)², and they add up to the total
    ss_task = 5 * np.sum((np.array(list(task_effect.values())) - 0.3) ** 2)
    ss_model = 4 * np.sum((np.array(list(model_effect.values())) - 0.1) ** 2)
    total = ss_task + ss_model
    assert table.loc["task", "alone"] == pytest.approx(ss_task / total)
    assert table.loc["task", "unique"] == pytest.approx(ss_task / total)
    assert table.loc["model", "sequential"] == pytest.approx(ss_model / total)
    assert table.loc["accuracy", "unique"] == pytest.approx(0, abs=1e-12)
    assert table.loc["residual", "unique"] == pytest.approx(0, abs=1e-12)
    assert table.loc["task", "df"] == 3 and table.loc["model", "df"] == 4 and table.loc["accuracy", "df"] == 1
    assert table.loc["residual", "df"] == 20 - 1 - 3 - 4 - 1


def test_accuracy_explains_everything_when_robustness_is_a_function_of_it():
    design = _design()
    design["x"] = np.linspace(0.1, 0.9, len(design))
    design["y"] = 2 * design["x"] - 0.3
    table = analysis.variance_decomposition(design).set_index("term")
    assert table.loc["accuracy", "alone"] == pytest.approx(1)
    assert table.loc["residual", "unique"] == pytest.approx(0, abs=1e-12)


def test_type_two_shares_match_dense_least_squares_on_an_unbalanced_design():
    rng = np.random.default_rng(5)
    design = _design(8, 6).sample(frac=0.7, random_state=2).reset_index(drop=True)
    design["x"] = rng.random(len(design))
    design["y"] = (
        0.5 * design["x"] + design["task"].str[1].astype(int) * 0.1 + rng.normal(0, 0.05, len(design))
    )

    def rss(terms):
        columns = [np.ones(len(design))]
        for term in terms:
            if term == "accuracy":
                columns.append(design["x"].to_numpy())
            else:
                columns.extend(pd.get_dummies(design[term], drop_first=True).astype(float).T.to_numpy())
        matrix = np.column_stack(columns)
        beta = np.linalg.lstsq(matrix, design["y"].to_numpy(), rcond=None)[0]
        residual = design["y"].to_numpy() - matrix @ beta
        return residual @ residual

    total = ((design["y"] - design["y"].mean()) ** 2).sum()
    full = rss(["task", "model", "accuracy"])
    table = analysis.variance_decomposition(design).set_index("term")
    for term in ("task", "model", "accuracy"):
        others = [t for t in ("task", "model", "accuracy") if t != term]
        assert table.loc[term, "unique"] == pytest.approx((rss(others) - full) / total, abs=1e-9)
    assert table.loc["model", "sequential"] == pytest.approx((rss(["task"]) - rss(["task", "model"])) / total)
    shares = table.loc[["task", "model", "accuracy", "shared", "residual"], "unique"].sum()
    assert shares == pytest.approx(1)


def test_partial_correlations_equal_correlations_of_residuals():
    points = _points(n_models=10, n_tasks=5)
    table = analysis.partial_correlations(points).set_index("control")
    within_task_x = points["x"] - points.groupby("task")["x"].transform("mean")
    within_task_y = points["y"] - points.groupby("task")["y"].transform("mean")
    assert table.loc["none", "r"] == pytest.approx(stats.pearsonr(points["x"], points["y"]).statistic)
    assert table.loc["task", "r"] == pytest.approx(np.corrcoef(within_task_x, within_task_y)[0, 1])
    assert (
        table.loc["task", "k"] == 4 and table.loc["model", "k"] == 9 and table.loc["task + model", "k"] == 13
    )

    # balanced two-way: the residual is the double-centred value
    def double_centre(v):
        return (
            v
            - points.groupby("task")[v.name].transform("mean")
            - points.groupby("model")[v.name].transform("mean")
            + v.mean()
        )

    expected = np.corrcoef(double_centre(points["x"]), double_centre(points["y"]))[0, 1]
    assert table.loc["task + model", "r"] == pytest.approx(expected)
    r, n, k = table.loc["task", ["r", "n", "k"]]
    t = r * math.sqrt((n - 2 - k) / (1 - r**2))
    assert table.loc["task", "p"] == pytest.approx(2 * stats.t.sf(abs(t), n - 2 - k))


def test_correlation_points_of_one_release(board_frames):
    points = analysis.correlation_points(board_frames, "bench@1.0.0", "consistency")
    assert len(points) == 4 and set(points["task"]) == {"law", "math"}
    per_model = analysis.correlation_points(board_frames, "bench@1.0.0", "consistency", unit="model")
    assert sorted(per_model["model"]) == ["org/big", "org/small", "other/unknown"]
    assert analysis.correlation_points(board_frames, "bench@1.0.0", "no-such-metric").empty
