"""About tab: methodology, every metric's definition, how ranks and correlations are computed, citation."""

from __future__ import annotations

import gradio as gr

from leaderboard import analysis
from leaderboard.board import Board
from leaderboard.views import common
from robustboard import __version__

CITATION = f"""@software{{robustboard,
  title   = {{robustboard: versioned perturbed benchmark releases and
             a leaderboard of accuracy and robustness}},
  version = {{{__version__}}},
  year    = {{2026}}
}}

@article{{robustness_emergent_2026,
  title   = {{Robustness as an Emergent Property of Task Performance}},
  journal = {{arXiv preprint arXiv:2602.03344}},
  year    = {{2026}}
}}"""

METHODOLOGY = """
## What is measured

Every release is a matrix **examples × variant slots**: each source example appears once per slot —
the unperturbed `original` and each perturbation setting (typos, casing, synonyms, distractors,
instruction wording, option enumerator and order, few-shot demonstrations, ...). A submission answers
every cell; the scorer compares each answer with the hidden gold answer of that slot (multiple-choice
answers by option *content*, so a reordered option is still the same answer). `C[i, v]` is 1 when the
answer to example i in slot v is right; a missing or unparseable answer is wrong and lowers coverage.

## Ranking

The board ranks by **accuracy** (mean over slots). Ranks are **tie groups** within a release version:
models are sorted by accuracy; the best model opens group 1; every next model joins the current group
unless the exact paired sign test over examples (per-example accuracy, `scipy.stats.binomtest`; with
one slot this is McNemar's exact test) separates it from the group's *best* model at α = {alpha:g}, in
which case it opens a new group ranked by its position (1, 1, 1, 4, ...). Testing against the group's
best rather than the previous neighbour stops a long run of small gaps from chaining into one group;
every member of a group is statistically indistinguishable from its leader. Results without stored
details fall back to non-overlapping 95% bootstrap CIs.

## Correlation views

Points are (model, task) pairs of one release: x = the task accuracy, y = a robustness metric of the
same task. The table gives, pooled and per task (across models) or per model (across tasks):
Pearson r with a Fisher-z 95% CI and t-test p; Spearman ρ and Kendall τ_b with 95% percentile
bootstrap CIs ({resamples:,} resamples of the points, seeded) and their p-values (t test for ρ;
`scipy.stats.kendalltau` for τ). Groups of more than 2,000 points use Fisher-z intervals with the
Fieller–Hartley–Pearson variances (1.06/(n−3) for ρ, 0.437/(n−4) for τ) instead of the bootstrap, and
say so. Pooled points are not independent (the same model and task recur); the decomposition and
partial correlations below account for that structure.

**Trivial robustness.** If every slot were an independent coin with success p, agreement would follow
from p alone: correctness agreement p² + (1−p)²; answer consistency p² + (1−p)²·d, where
d = mean over examples of 1/(options − 1) is the chance that two wrong answers pick the same wrong
option (d = 1/3 for four options, 1 for binary tasks; recovered from the scorer's own independence
null); worst-case accuracy p^k for k slots; κ, PDR, Cohen's h and the excess metrics 0. The dashed curve
draws it; points above it are robust beyond what accuracy implies.

**Variance decomposition.** Robustness over model × task points is fitted by least squares with a task
factor, a model factor and accuracy (no interactions). *Alone* is each term's R² by itself;
*sequential* (type I) the R² each adds in the order task → model → accuracy; *unique* (type II) the
R² lost when the term is dropped from the full model. What the three terms explain jointly but not
uniquely is *shared*; the rest is *residual*. If robustness is task-driven, task dominates and accuracy
adds little once task is known.

**Partial correlation** of robustness with accuracy after removing task effects, model effects or both
(both variables residualised on the factors' dummies; t test with n − 2 − k df, Fisher CI with
n − 3 − k, k = number of dummies).

## Metrics
"""


def metric_table() -> str:
    rows = ["| metric | key | better | definition | source |", "|---|---|:-:|---|---|"]
    for metric in analysis.METRICS:
        rows.append(
            f"| {common.escape_markdown(metric.label)} | `{metric.key}` | "
            f"{'↑' if metric.higher_is_better else '↓'} | {common.escape_markdown(metric.definition)} | "
            f"{common.escape_markdown(metric.source)} |"
        )
    return "\n".join(rows)


NOTES = """
Confidence intervals of the scores are percentile bootstrap intervals over **examples** (whole rows of
the matrix resampled, 1,000 resamples, seeded); every result record carries the scorer's exact
definitions (micro vs macro averaging, undefined ratios as empty cells) under `definitions`.
Downloads (CSV and JSON) hold exactly the rows and columns shown; in the CSV, text cells that a
spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`) are prefixed with an apostrophe.
"""


def build(board: Board, demo: gr.Blocks) -> None:
    text = METHODOLOGY.format(alpha=board.settings.rank_alpha, resamples=board.settings.correlation_resamples)
    gr.Markdown(text + metric_table() + "\n" + NOTES, latex_delimiters=[])
    gr.Markdown("## Citation")
    gr.Textbox(
        value=CITATION, label="BibTeX", lines=12, interactive=False, buttons=["copy"], elem_id="citation"
    )
