"""`robustboard baselines` (a real baseline model on a release) and `robustboard predict` (any
OpenAI-compatible server on a release): both write a predictions file ready for `robustboard submit`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from robustboard.atomic import write_json
from robustboard.cli import UserError


def register(subparsers) -> None:
    from baselines.models import BASELINES

    names = ", ".join(BASELINES)
    p = subparsers.add_parser(
        "baselines",
        help="predict every row of a release with a real baseline model",
        description=(
            "Predict every row of every config of a release folder with a real baseline model and write "
            f"a predictions file. Baselines: {names}. `--list RELEASE` shows which apply."
        ),
    )
    p.add_argument("release", nargs="?", help="a release folder (written by `robustboard build`)")
    p.add_argument("--model", metavar="NAME", help=f"the baseline: {names}")
    p.add_argument("--out", metavar="FILE", help="predictions file to write (.jsonl, .csv or .parquet)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random guesser (default 0)")
    p.add_argument(
        "--train",
        metavar="FILE",
        help="classification: train on this file (source schema) instead of the spec's train split",
    )
    p.add_argument("--cache", metavar="DIR", help="model/embedding cache ($ROBUSTBOARD_CACHE)")
    p.add_argument("--metadata", metavar="FILE", help="also write the model metadata for a submission (JSON)")
    p.add_argument("--list", action="store_true", help="list the baselines (applicable to RELEASE, if given)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_baselines)

    q = subparsers.add_parser(
        "predict",
        help="ask an OpenAI-compatible server for every prompt of a release",
        description=(
            "Send every prompt of a release to an OpenAI-compatible chat-completions server (vLLM, "
            "llama.cpp, Ollama, a hosted API) and write a predictions file. Rerunning an interrupted "
            "command continues from the on-disk cache. With --samples S > 1, sample 1 of slot V keeps "
            "variant_id V and sample k > 1 is written as V@t<T>-s<k>, scored as an extra slot of V."
        ),
    )
    q.add_argument("release", help="a release folder (written by `robustboard build`)")
    q.add_argument(
        "--endpoint", required=True, metavar="URL", help="API base URL, e.g. http://127.0.0.1:8000/v1"
    )
    q.add_argument("--model", required=True, metavar="NAME", help="the model name the server serves")
    q.add_argument("--out", required=True, metavar="FILE", help="predictions file (.jsonl, .csv or .parquet)")
    q.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (Bearer)")
    q.add_argument("--concurrency", type=int, default=8, help="requests in flight at most (default 8)")
    q.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    q.add_argument("--samples", type=int, default=1, help="samples per prompt; >1 adds slots V@t<T>-s<k>")
    q.add_argument("--max-tokens", type=int, default=None, help="reply length limit in tokens (default 64)")
    q.add_argument("--cache", metavar="DIR", help="reply cache (default $ROBUSTBOARD_CACHE/predict)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_predict)


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _baselines(args: argparse.Namespace) -> int:
    from baselines.context import RunContext, default_cache_dir
    from baselines.models import BASELINES, applicable, missing_extra, run_baseline
    from baselines.release import BaselineError, check_output_path, open_release, write_predictions

    try:
        if args.out:
            check_output_path(args.out)
        release = open_release(args.release) if args.release else None
        if args.list:
            names = applicable(release) if release else list(BASELINES)
            for name in names:
                baseline = BASELINES[name]
                missing = missing_extra(name)
                status = f"  [{missing}]" if missing else ""
                print(f"{name:18} {'/'.join(baseline.task_types):32} {baseline.description}{status}")
            return 0
        if release is None or not args.model or not args.out:
            raise UserError("give RELEASE, --model NAME and --out FILE (or --list)")
        ctx = RunContext(
            seed=args.seed,
            cache=Path(args.cache).expanduser() if args.cache else default_cache_dir(),
            progress=not args.no_progress,
            train_path=Path(args.train) if args.train else None,
        )
        result = run_baseline(release, args.model, ctx)
        write_predictions(result.predictions, args.out)
        if args.metadata:
            write_json(args.metadata, result.model)
    except BaselineError as err:
        raise UserError(str(err)) from None
    for note in result.notes:
        _log(note)
    _log(
        f"{args.model}: wrote {len(result.predictions)} predictions for {release.name} "
        f"{release.version} to {args.out} in {result.seconds:.1f}s"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    from baselines.context import default_cache_dir
    from baselines.predict import DEFAULT_MAX_TOKENS, PredictConfig, predict
    from baselines.release import BaselineError, check_output_path, open_release, write_predictions

    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise UserError(f"--api-key-env {args.api_key_env}: that environment variable is unset or empty")
    config = PredictConfig(
        endpoint=args.endpoint,
        model=args.model,
        temperature=args.temperature,
        samples=args.samples,
        max_tokens=args.max_tokens if args.max_tokens is not None else DEFAULT_MAX_TOKENS,
        concurrency=args.concurrency,
        api_key=api_key,
        cache_dir=Path(args.cache).expanduser() if args.cache else default_cache_dir() / "predict",
        progress=not args.no_progress,
    )
    try:
        check_output_path(args.out)
        release = open_release(args.release)
        result = predict(release, config, log=_log)
        write_predictions(result.predictions, args.out)
    except BaselineError as err:
        raise UserError(str(err)) from None
    _log(
        f"wrote {len(result.predictions)} predictions to {args.out} ({result.requests_sent} requests sent, "
        f"{result.cached} from the cache {result.cache_path})"
    )
    summary = {"rows": len(result.predictions), "sent": result.requests_sent, "cached": result.cached}
    print(json.dumps(summary))
    return 0
