"""Commands: score, register, submit, worker, results, compare."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import math
import sys
from pathlib import Path

from robustboard.atomic import dumps_json, write_text
from robustboard.cli import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("score", help="score predictions against labels and print the score as JSON")
    p.add_argument("--labels", required=True, help="labels folder, or one JSONL/CSV/parquet labels file")
    p.add_argument(
        "--predictions", required=True, help="predictions file (JSONL/CSV/parquet/lm-eval samples) or folder"
    )
    p.add_argument("--json", metavar="OUT", help="also write the JSON object to this file")
    p.add_argument(
        "--min-coverage", type=_fraction, help="reject predictions covering less than this share of cells"
    )
    _bootstrap_options(p)
    _limit_options(p, "max_file_mb", "max_rows", "max_problems")
    p.set_defaults(func=_score)

    p = subparsers.add_parser("register", help="add a release (and its hidden labels) to a results store")
    p.add_argument("release", help="release folder or hf://ORG/NAME@TAG")
    p.add_argument("--labels", required=True, help="labels folder or hf://ORG/NAME@TAG")
    p.add_argument("--store", required=True, help="store folder or hf://ORG/NAME")
    p.set_defaults(func=_register)

    p = subparsers.add_parser("submit", help="validate, record and (by default) score a submission")
    p.add_argument("predictions", help="predictions file, or a folder of lm-eval samples_*.jsonl files")
    p.add_argument("--release", required=True, metavar="NAME@VERSION")
    p.add_argument("--model", required=True, metavar="ORG/NAME")
    p.add_argument("--revision", default="main", help="model revision (default: main)")
    p.add_argument("--params-b", type=float, help="parameters in billions")
    p.add_argument(
        "--type",
        default="other",
        dest="model_type",
        help="pretrained, fine-tuned, instruction-tuned, rl-tuned, baseline or other (default: other)",
    )
    p.add_argument("--link", help="http(s) link to the model")
    p.add_argument("--license", help="the model's licence")
    p.add_argument("--submitter", default=None, help="who submits (default: the current user)")
    p.add_argument("--store", required=True, help="store folder or hf://ORG/NAME")
    p.add_argument(
        "--min-coverage", type=_fraction, help="reject predictions covering less than this share of cells"
    )
    p.add_argument("--no-wait", action="store_true", help="only queue the submission; a worker scores it")
    _bootstrap_options(p)
    _limit_options(p, "max_file_mb", "max_rows", "max_problems", "scoring_timeout", "per_day")
    p.set_defaults(func=_submit)

    p = subparsers.add_parser("worker", help="score queued submissions of a store (and rerun crashed ones)")
    p.add_argument("--store", required=True)
    p.add_argument("--once", action="store_true", help="score what is queued now, then exit")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between polls (default 10)")
    p.add_argument(
        "--stale-after",
        type=float,
        default=600.0,
        help="a RUNNING job without a heartbeat for this many seconds is rerun (default 600)",
    )
    p.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats (default 30)")
    _bootstrap_options(p)
    _limit_options(p, "max_file_mb", "max_rows", "max_problems", "scoring_timeout")
    p.set_defaults(func=_worker)

    p = subparsers.add_parser("results", help="list the scored submissions of a store")
    p.add_argument("--store", required=True)
    p.add_argument("--release", metavar="NAME@VERSION", help="only this release")
    p.add_argument("--json", action="store_true", help="print the result records as JSON")
    p.set_defaults(func=_results)

    p = subparsers.add_parser("compare", help="paired tests between two results on the same release")
    p.add_argument(
        "a",
        metavar="RESULT_A",
        help="results/<id>.json in a store folder, a details parquet, or a submission id (with --store)",
    )
    p.add_argument("b", metavar="RESULT_B")
    p.add_argument("--store", help="store holding the results (for submission ids, or hf:// stores)")
    p.add_argument("--json", metavar="OUT", help="also write the JSON object to this file")
    _bootstrap_options(p)
    p.set_defaults(func=_compare)


def _bootstrap_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


_LIMIT_HELP = {
    "max_file_mb": ("MB", float, "largest predictions file accepted"),
    "max_rows": ("N", int, "most rows (lines) in a predictions file"),
    "max_problems": ("N", int, "most problems reported for one file"),
    "scoring_timeout": ("SECONDS", float, "time limit of one scoring job"),
    "per_day": ("N", int, "submissions per submitter, and per model, in 24 hours (0: no quota)"),
}


def _limit_options(p: argparse.ArgumentParser, *names: str) -> None:
    """Flags for the limits of `submissions.limits`; each defaults to its ROBUSTBOARD_* variable."""
    from submissions.limits import ENVIRONMENT, FLAGS, Limits

    for name in names:
        metavar, kind, text = _LIMIT_HELP[name]
        default = getattr(Limits, name)
        shown = f"{default:,}" if isinstance(default, int) else f"{default:g}"
        p.add_argument(
            FLAGS[name],
            dest=name,
            type=kind,
            metavar=metavar,
            help=f"{text} (default: ${ENVIRONMENT[name]} or {shown})",
        )


def _limits(args: argparse.Namespace):
    """The limits in force: the environment's, overridden by the command's flags."""
    from submissions.limits import ENVIRONMENT, Limits

    try:
        return Limits.from_env(**{name: getattr(args, name, None) for name in ENVIRONMENT})
    except ValueError as err:
        raise UserError(f"limits: {err}") from None


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _user_errors(fn):
    """ValidationError / StoreError are the user's to fix: one clear message, exit status 2."""

    def wrapped(args: argparse.Namespace) -> int:
        from submissions.store import StoreError
        from submissions.validation import ValidationError

        try:
            return fn(args)
        except (ValidationError, StoreError) as err:
            raise UserError(str(err)) from None

    return wrapped


@_user_errors
def _score(args: argparse.Namespace) -> int:
    from submissions import sandbox
    from submissions.formats import read_labels, read_predictions
    from submissions.limits import using
    from submissions.metrics import score

    limits = _limits(args)
    sandbox.start()  # the predictions' parser starts up while the labels are read
    with using(limits):
        labels = read_labels(args.labels)
        predictions = read_predictions(args.predictions, limits=limits)
        result = score(
            labels, predictions, n_resamples=args.resamples, seed=args.seed, min_coverage=args.min_coverage
        )
    text = dumps_json(result)
    if args.json:
        write_text(args.json, text)
    sys.stdout.write(text)
    return 0


@_user_errors
def _register(args: argparse.Namespace) -> int:
    from submissions.store import open_store

    entry = open_store(args.store).register_release(args.release, args.labels)
    counts = entry["manifest"].get("counts") or {}
    print(
        f"registered {entry['name']}@{entry['version']} ({counts.get('examples')} examples × "
        f"{counts.get('slots')} slots, content hash {entry['content_hash'][:12]}…) in {args.store}"
    )
    return 0


@_user_errors
def _submit(args: argparse.Namespace) -> int:
    from submissions.store import open_store

    store = open_store(args.store, limits=_limits(args))
    model = {
        "name": args.model,
        "revision": args.revision,
        "params_b": args.params_b,
        "type": args.model_type,
        "link": args.link,
        "license": args.license,
    }
    request = store.submit(
        args.predictions,
        release=args.release,
        model=model,
        submitter=args.submitter or getpass.getuser(),
        min_coverage=args.min_coverage,
    )
    sid = request["submission_id"]
    print(
        f"submission {sid}: {request['status']}"
        + (f" ({request['reason']})" if request.get("reason") else "")
    )
    if args.no_wait or request["status"] == "FINISHED":
        return 0 if request["status"] != "FAILED" else 1
    done = store.run_pending(submission_ids=[sid], n_resamples=args.resamples, seed=args.seed)
    final = done[-1] if done else store.request(sid)
    if final["status"] != "FINISHED":
        print(f"submission {sid}: {final['status']} {final.get('reason', '')}".rstrip(), file=sys.stderr)
        return 1
    print(_summary(store.result(sid)))
    return 0


@_user_errors
def _worker(args: argparse.Namespace) -> int:
    from submissions.store import open_store
    from submissions.worker import run_pending, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = open_store(args.store, limits=_limits(args))
    options = {
        "stale_after": args.stale_after,
        "heartbeat_every": args.heartbeat,
        "n_resamples": args.resamples,
        "seed": args.seed,
    }
    if not args.once:
        serve(store, interval=args.interval, **options)
        return 0
    done = run_pending(store, **options)
    for request in done:
        print(f"{request['submission_id']} {request['status']} {request.get('reason') or ''}".rstrip())
    print(f"{len(done)} submission(s) processed")
    return 1 if any(r["status"] == "FAILED" for r in done) else 0


@_user_errors
def _results(args: argparse.Namespace) -> int:
    from submissions.store import open_store

    records = open_store(args.store).results(release=args.release)
    if args.json:
        sys.stdout.write(dumps_json(records))
        return 0
    print(results_table(records))
    return 0


def results_table(records: list[dict]) -> str:
    """A plain-text table: one line per result."""
    header = (
        "model",
        "revision",
        "release",
        "accuracy",
        "95% CI",
        "consistency",
        "worst case",
        "kappa",
        "coverage",
        "submission",
    )
    rows = [header]
    for r in records:
        m, ci = r["metrics"], r["ci"]
        rows.append(
            (
                r["model"]["name"],
                r["model"].get("revision") or "",
                f"{r['release']['name']}@{r['release']['version']}",
                _number(m["accuracy"]),
                f"[{_number(ci['accuracy'][0])}, {_number(ci['accuracy'][1])}]",
                _number(m["consistency"]),
                _number(m["worst_case_accuracy"]),
                _number(m["kappa"]),
                _number(r["coverage"]),
                r["submission_id"],
            )
        )
    if len(rows) == 1:
        return "no results"
    widths = [max(len(str(row[j])) for row in rows) for j in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _number(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _summary(result: dict) -> str:
    m, ci = result["metrics"], result["ci"]
    return (
        f"{result['model']['name']} on {result['release']['name']}@{result['release']['version']}: "
        f"accuracy {_number(m['accuracy'])} [{_number(ci['accuracy'][0])}, {_number(ci['accuracy'][1])}], "
        f"consistency {_number(m['consistency'])}, worst case {_number(m['worst_case_accuracy'])}, "
        f"kappa {_number(m['kappa'])}, coverage {_number(result['coverage'])} "
        f"({result['n_examples']} examples × {result['n_slots']} slots)"
    )


@_user_errors
def _compare(args: argparse.Namespace) -> int:
    from submissions.compare import compare

    (details_a, release_a), (details_b, release_b) = (
        _details(args.a, args.store),
        _details(args.b, args.store),
    )
    if release_a and release_b and release_a != release_b:
        raise UserError(
            f"the results are on different releases ({release_a} vs {release_b}); compare needs one release"
        )
    result = compare(details_a, details_b, n_resamples=args.resamples, seed=args.seed)
    result["a"], result["b"] = args.a, args.b
    text = dumps_json(result)
    if args.json:
        write_text(args.json, text)
    sys.stdout.write(text)
    return 0


def _details(ref: str, store_uri: str | None):
    """Details frame (and release content hash, when known) for a result reference."""
    import pandas as pd

    from submissions.store import open_store

    path = Path(ref)
    if path.suffix == ".parquet" and path.is_file():
        return pd.read_parquet(path), None
    if path.suffix == ".json" and path.is_file():
        record = json.loads(path.read_text("utf-8"))
        sid = record.get("submission_id") or path.stem
        if store_uri is None and path.parent.name == "results":
            store_uri = str(path.parent.parent)
        if store_uri is None:
            raise UserError(f"{ref}: pass --store to say where its details are kept")
        return open_store(store_uri).details(sid), record.get("release", {}).get("content_hash")
    if store_uri is None:
        raise UserError(f"{ref}: not a result JSON or details parquet file; for a submission id pass --store")
    store = open_store(store_uri)
    return store.details(ref), store.result(ref)["release"]["content_hash"]
