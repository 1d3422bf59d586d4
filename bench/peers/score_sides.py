"""The scorers being compared: ours, unitxt's group robustness metrics, lm-evaluation-harness's stderr.

Each side is one function of an input folder returning its numbers; libraries are imported lazily so
the file loads in either environment. The folder holds the contract files our scorer reads
(`labels/`, `predictions.parquet`) and `peer_input.parquet`, the same predictions one row per
(example, slot) for the peers: `example_id`, `variant_id`, `variant_type` (`original` or
`paraphrase`, unitxt's subgroup names), `task`, `prediction`, `reference`, `correct`. Neither peer
parses free-form answers the way our extractor does, so `prediction` is the row's answer after our
extraction (the gold label when our extractor found the correct option, the submitted text
otherwise); extraction is charged to our side's time only.
"""

from __future__ import annotations

import time

N_RESAMPLES = 1000


def ours(folder: str, n_resamples: int = N_RESAMPLES) -> dict:
    """Read the files and score them: every metric with its CIs (overall, per family, per task)."""
    from submissions import sandbox
    from submissions.formats import read_labels, read_predictions
    from submissions.metrics import score

    start = time.perf_counter()
    sandbox.start()  # as `robustboard score` does: the untrusted file's parser starts while labels are read
    labels = read_labels(f"{folder}/labels")
    predictions = read_predictions(f"{folder}/predictions.parquet")
    read = time.perf_counter()
    result = score(labels, predictions, n_resamples=n_resamples, seed=0)
    done = time.perf_counter()
    per_task = [block["metrics"] for block in result["per_task"].values()]
    return {
        "read_s": read - start,
        "compute_s": done - read,
        "values": {
            "accuracy": result["metrics"]["accuracy"],
            "accuracy_ci": result["ci"]["accuracy"],
            "pdr": result["metrics"]["pdr"],
            "pdr_ci": result["ci"]["pdr"],
            "cohens_h": result["metrics"]["cohens_h"],
            "cohens_h_ci": result["ci"]["cohens_h"],
            "mean_task_pdr": _nanmean([m["pdr"] for m in per_task]),
            "mean_task_cohens_h": _nanmean([m["cohens_h"] for m in per_task]),
            "n_examples": result["n_examples"],
            "n_slots": result["n_slots"],
        },
    }


def _nanmean(values: list) -> float:
    kept = [v for v in values if v is not None and v == v]
    return sum(kept) / len(kept) if kept else float("nan")


def _peer_frame(folder: str, columns: list[str]):
    import pyarrow.parquet as pq

    return pq.read_table(f"{folder}/peer_input.parquet", columns=columns).to_pydict()


def _unitxt_metric(cls, columns: dict, group_key: str, n_resamples: int | None) -> dict:
    """One unitxt group metric over instances built from the columns; its global score and CI."""
    instances = [
        {"prediction": p, "references": [r], "task_data": {"group_id": g, "variant_type": v}}
        for p, r, g, v in zip(
            columns["prediction"],
            columns["reference"],
            columns[group_key],
            columns["variant_type"],
            strict=True,
        )
    ]
    metric = cls(n_resamples=n_resamples)
    first = next(iter(metric.process(instances)))
    score = first["score"]["global"]
    return {"score": score["score"], "ci": [score.get("score_ci_low"), score.get("score_ci_high")]}


def unitxt(folder: str, n_resamples: int = N_RESAMPLES) -> dict:
    """unitxt's paraphrase PDR and normalised Cohen's h, groups = examples, with their (BCa) CIs.

    This is how unitxt's robustness metrics are meant to be used (one group per original question,
    groups resampled as fixed units); both are means over groups of a per-group value.
    """
    from unitxt.metrics import FixedGroupNormCohensHParaphraseAccuracy, FixedGroupPDRParaphraseAccuracy

    start = time.perf_counter()
    columns = _peer_frame(folder, ["example_id", "variant_type", "prediction", "reference"])
    read = time.perf_counter()
    pdr = _unitxt_metric(FixedGroupPDRParaphraseAccuracy, columns, "example_id", n_resamples)
    cohens_h = _unitxt_metric(FixedGroupNormCohensHParaphraseAccuracy, columns, "example_id", n_resamples)
    done = time.perf_counter()
    return {
        "read_s": read - start,
        "compute_s": done - read,
        "values": {
            "mean_example_pdr": pdr["score"],
            "mean_example_pdr_ci": pdr["ci"],
            "mean_example_cohens_h": cohens_h["score"],
            "mean_example_cohens_h_ci": cohens_h["ci"],
        },
    }


def unitxt_agreement(folder: str) -> dict:
    """unitxt's metrics where their definitions match ours (point estimates, no CI).

    - one group holding every row: 1 - mean(paraphrase) / mean(original) and the normalised Cohen's h
      of the two pooled means, which are our `pdr` and `cohens_h` (complete grid: the pooled mean of
      the perturbed rows is the mean of the perturbed slot accuracies);
    - groups = tasks: the mean over tasks of the per-task values = the mean of our `per_task` values.
    """
    from unitxt.metrics import FixedGroupNormCohensHParaphraseAccuracy, FixedGroupPDRParaphraseAccuracy

    columns = _peer_frame(folder, ["task", "variant_type", "prediction", "reference"])
    columns["all"] = ["all"] * len(columns["task"])
    out = {}
    for name, cls in (
        ("pdr", FixedGroupPDRParaphraseAccuracy),
        ("cohens_h", FixedGroupNormCohensHParaphraseAccuracy),
    ):
        out[name] = _unitxt_metric(cls, columns, "all", None)["score"]
        out[f"mean_task_{name}"] = _unitxt_metric(cls, columns, "task", None)["score"]
    return {"values": out}


def lmeval(folder: str, n_resamples: int = N_RESAMPLES) -> dict:
    """lm-eval's `bootstrap_stderr(mean, ...)` over the rows, each (example, slot) a document.

    That is what lm-eval computes for a task whose documents are the release's rows (as
    `builder.lmeval` exports them): rows resampled independently. Also its closed-form `mean_stderr`
    (what `stderr_for_metric(mean, ...)` returns for accuracy).
    """
    from lm_eval.api.metrics import bootstrap_stderr, mean, mean_stderr

    start = time.perf_counter()
    correct = [float(x) for x in _peer_frame(folder, ["correct"])["correct"]]
    read = time.perf_counter()
    accuracy = mean(correct)
    stderr = bootstrap_stderr(mean, correct, iters=n_resamples)
    done = time.perf_counter()
    return {
        "read_s": read - start,
        "compute_s": done - read,
        "values": {
            "accuracy": accuracy,
            "row_bootstrap_stderr": stderr,
            "row_mean_stderr": mean_stderr(correct),
        },
    }


def lmeval_agreement(folder: str, n_resamples: int = N_RESAMPLES) -> dict:
    """lm-eval's bootstrap stderr with our resampling unit: the per-example mean over slots.

    The mean of the per-example means is AvgP (complete grid) and resampling them resamples whole
    rows of the examples × slots matrix, as our CIs do; `mean_stderr` is the closed form.
    """
    from collections import defaultdict

    from lm_eval.api.metrics import bootstrap_stderr, mean, mean_stderr

    columns = _peer_frame(folder, ["example_id", "correct"])
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for example, value in zip(columns["example_id"], columns["correct"], strict=True):
        cell = sums[example]
        cell[0] += value
        cell[1] += 1
    per_example = [total / count for total, count in sums.values()]
    start = time.perf_counter()
    stderr = bootstrap_stderr(mean, per_example, iters=n_resamples)
    seconds = time.perf_counter() - start
    return {
        "compute_s": seconds,
        "values": {
            "accuracy": mean(per_example),
            "example_bootstrap_stderr": stderr,
            "example_mean_stderr": mean_stderr(per_example),
        },
    }


SIDES = {
    "ours": ours,
    "unitxt": unitxt,
    "lmeval": lmeval,
    "unitxt_agreement": unitxt_agreement,
    "lmeval_agreement": lmeval_agreement,
}
