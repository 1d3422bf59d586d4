"""Hub subcommands: `publish`, `versions`, `pull` and the local `hub-server`.

Heavy imports (huggingface_hub, uvicorn) happen inside the commands so that `robustboard --help`
stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys

from robustboard.cli import UserError

_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def _repo_id(value: str) -> str:
    if not _REPO_RE.match(value) or "--" in value or ".." in value:
        raise argparse.ArgumentTypeError(f"{value!r} is not a repo id of the form ORG/NAME")
    return value


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return number


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="Hub endpoint (default: $HF_ENDPOINT or https://huggingface.co); "
        "the token comes from $HF_TOKEN or `hf auth login`",
    )
    parser.add_argument(
        "--retries",
        type=_positive_int,
        default=5,
        metavar="N",
        help="attempts per step on transient failures (5xx, timeouts, dropped connections); default 5",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="give up on a stalled request after this long (then retry); default 60",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "publish",
        help="publish a release (and its private labels) to the Hub as version tag v{version}",
        description="Upload the release folder to a public dataset repo and the labels folder to a private "
        "one (created when missing), one commit per repo, then tag both v{version}. Safe to re-run: the "
        "same release again changes nothing; different content under an existing tag is refused.",
    )
    p.add_argument("release_dir", metavar="DIR", help="the folder `robustboard build --out` wrote")
    p.add_argument("--labels", metavar="LABELS_DIR", help="the labels folder `robustboard build` wrote")
    p.add_argument("--repo", required=True, type=_repo_id, metavar="ORG/NAME", help="public dataset repo")
    p.add_argument("--labels-repo", type=_repo_id, metavar="ORG/NAME-labels", help="private labels repo")
    _add_client_options(p)
    p.set_defaults(func=_publish)

    p = subparsers.add_parser(
        "versions",
        help="list the published versions of a release repo",
        description="List the version tags of a dataset repo: commit, date, and counts from each manifest.",
    )
    p.add_argument("--repo", required=True, type=_repo_id, metavar="ORG/NAME")
    _add_client_options(p)
    p.set_defaults(func=_versions)

    p = subparsers.add_parser(
        "pull",
        help="download a published version, byte-identical to the release folder",
        description="Restore the release folder of one version (and its labels, which need a token), "
        "checking every file against the manifest's sha256 before anything is written.",
    )
    p.add_argument("--repo", required=True, type=_repo_id, metavar="ORG/NAME")
    p.add_argument(
        "--revision", required=True, metavar="TAG", help="a version tag (v1.2.0), branch or commit"
    )
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--labels-repo", type=_repo_id, metavar="ORG/NAME-labels")
    p.add_argument("--labels-out", metavar="DIR")
    p.add_argument("--force", action="store_true", help="replace --out / --labels-out if they are not empty")
    _add_client_options(p)
    p.set_defaults(func=_pull)

    p = subparsers.add_parser(
        "hub-server",
        help="run the local Hub-compatible server (tests, local development)",
        description="Serve a Hugging Face Hub-compatible API from a data folder. "
        "Point the clients at it with HF_ENDPOINT=http://HOST:PORT HF_HUB_DISABLE_XET=1 "
        "HF_TOKEN=<a user's token>.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="where repos and users are stored")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:TOKEN",
        help="add a user (repeatable); with no users at all, a user `local` with a fresh token is created",
    )
    p.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="ORG:MEMBER[,MEMBER]",
        help="an organization (repeatable)",
    )
    p.add_argument(
        "--admin-token", metavar="TOKEN", help="enable /_admin (fault injection, request log) for this token"
    )
    p.set_defaults(func=_hub_server)


def _client_setup(args: argparse.Namespace):
    """Logging for retry warnings, the request timeout, and the retry policy from the options."""
    from robustboard import hub

    log = logging.getLogger("robustboard")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    hub.set_timeout(args.timeout)
    return hub.RetryPolicy(attempts=args.retries)


def _publish(args: argparse.Namespace) -> int:
    from builder.publish import PublishError, publish

    policy = _client_setup(args)
    try:
        result = publish(
            args.release_dir,
            args.labels,
            repo=args.repo,
            labels_repo=args.labels_repo,
            endpoint=args.endpoint,
            policy=policy,
            report=lambda line: print(line, file=sys.stderr),
        )
    except PublishError as err:
        print(f"robustboard publish: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        where = ", ".join(f"{r.repo_id}@{(r.commit or '')[:7]}" for r in result.repos)
        changed = any(r.new_commit or r.tagged for r in result.repos)
        verb = "published" if changed else "already published, nothing to do:"
        print(f"{verb} {result.name} {result.tag} → {where}")
    return 0


def _versions(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    from builder.publish import list_versions
    from robustboard.hub import HubUnavailableError, describe_error

    policy = _client_setup(args)
    try:
        versions = list_versions(args.repo, endpoint=args.endpoint, policy=policy)
    except (HubUnavailableError, HfHubHTTPError) as err:
        print(f"robustboard versions: error: {describe_error(err)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=2))
        return 0
    if not versions:
        print(f"{args.repo} has no version tags yet")
        return 0
    header = ("TAG", "COMMIT", "DATE", "EXAMPLES", "SLOTS", "ROWS", "CONTENT")
    rows = [header]
    for v in versions:
        counts = v.counts or {}
        rows.append(
            (
                v.tag,
                v.commit[:12],
                (v.date or "-")[:19].replace("T", " "),
                str(counts.get("examples", "-")),
                str(counts.get("slots", "-")),
                str(counts.get("rows", "-")),
                (v.content_hash or "-")[:12],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _pull(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    from builder.publish import pull
    from robustboard.hub import HubUnavailableError, describe_error

    policy = _client_setup(args)
    try:
        result = pull(
            args.repo,
            args.revision,
            args.out,
            labels_repo=args.labels_repo,
            labels_out=args.labels_out,
            endpoint=args.endpoint,
            force=args.force,
            policy=policy,
        )
    except (HubUnavailableError, HfHubHTTPError) as err:
        print(f"robustboard pull: error: {describe_error(err)} (nothing was written)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        line = f"pulled {result.repo}@{result.revision} ({result.commit[:7]}, {result.files} files)"
        line += f" → {result.out}"
        if result.labels_out is not None:
            line += f"; labels {result.labels_repo}@{(result.labels_commit or '')[:7]} → {result.labels_out}"
        print(line)
    return 0


def _split_pair(value: str, option: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name or not rest:
        raise UserError(f"{option} {value!r}: expected NAME:VALUE")
    return name, rest


def _hub_server(args: argparse.Namespace) -> int:
    from robustboard.hub_server import HubStorage, serve

    users = dict(_split_pair(u, "--user") for u in args.user)
    orgs = {}
    for value in args.org:
        org, members = _split_pair(value, "--org")
        orgs[org] = tuple(m for m in members.split(",") if m)
    storage = HubStorage(args.data)
    if not users and not storage.user_names():
        token = storage.add_user("local")
        print(f"created user 'local' with token {token}", file=sys.stderr)
    url = f"http://{args.host}:{args.port}"
    print(
        f"Hub server on {url} (data in {args.data}); use it with: "
        f"HF_ENDPOINT={url} HF_HUB_DISABLE_XET=1 HF_TOKEN=<token>",
        file=sys.stderr,
    )
    serve(args.data, args.host, args.port, users=users, orgs=orgs, admin_token=args.admin_token)
    return 0
