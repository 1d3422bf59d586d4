"""The crafted corpus (`corpus/`, written by `make_corpus.py`) through every way a file is taken in: the
reader, the scorer, `robustboard score` (in this process and as a real subprocess) and `Store.submit`.

Each file either scores exactly like its clean twin (BOMs, CRLF, blank lines, row order, extra fields,
numbers where text belongs, categorical or large-string parquet, formula-looking cells, lm-eval
samples) or ends in one clear problem naming where it is — never a crash or a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robustboard.atomic import dumps_json
from robustboard.cli import main
from submissions.formats import read_predictions
from submissions.metrics import score
from submissions.validation import ValidationError
from tests.hardening.conftest import CORPUS

REPO = Path(__file__).resolve().parents[2]
RESAMPLES = 50
# The installed console script when there is one (what users run), else the same entry point.
ROBUSTBOARD = (
    [shutil.which("robustboard")]
    if shutil.which("robustboard")
    else [sys.executable, "-c", "import sys; from robustboard.cli import main; sys.exit(main(sys.argv[1:]))"]
)

# file -> its clean twin: the two must give the same score object
SCORES_LIKE = {
    **dict.fromkeys(
        [
            "formula_cells.csv",
            "reference.parquet",
            "utf8_bom.jsonl",
            "utf8_bom.csv",
            "crlf.jsonl",
            "crlf.csv",
            "blank_lines.jsonl",
            "shuffled.jsonl",
            "extra_fields.jsonl",
            "deeply_nested_extra_field.jsonl",
            "dictionary.parquet",
            "large_string.parquet",
            "samples_reference.jsonl",
        ],
        "reference.jsonl",
    ),
    **dict.fromkeys(["numbers.jsonl", "numbers.csv", "numbers.parquet"], "numbers_reference.jsonl"),
    "unicode_digits.jsonl": "unicode_digits_reference.jsonl",
}
REFERENCES = ("reference.jsonl", "numbers_reference.jsonl", "unicode_digits_reference.jsonl")

# file -> (where, what): the problem's location and (part of) its message
PROBLEMS = {
    "utf16_bom.jsonl": ("utf16_bom.jsonl", "the file is UTF-16 text; save it as UTF-8"),
    "utf16_bom.csv": ("utf16_bom.csv", "the file is UTF-16 text; save it as UTF-8"),
    "utf32_bom.jsonl": ("utf32_bom.jsonl", "the file is UTF-32 text; save it as UTF-8"),
    "utf16_no_bom.jsonl": ("utf16_no_bom.jsonl", "looks like UTF-16 text"),
    "samples_utf16.jsonl": ("samples_utf16.jsonl", "the file is UTF-16 text"),
    "latin1.jsonl": ("line 11", "is not UTF-8 text (byte 0xe9"),
    "latin1.csv": ("latin1.csv", "the text is not UTF-8; save the file as UTF-8"),
    "nul_in_value.jsonl": ("line 11", "is not valid JSON (Invalid control character"),
    "nul_line.jsonl": ("line 11", "is not valid JSON"),
    "nul_in_value.csv": ("row 11", "unknown variant_id 'orig\\x00inal'"),
    "deeply_nested_prediction.jsonl": ("line 11", "is JSON nested too deeply"),
    "deeply_nested_line.jsonl": ("line 11", "is JSON nested too deeply"),
    "samples_deeply_nested.jsonl": ("samples_deeply_nested.jsonl: line 1", "is JSON nested too deeply"),
    "huge_integer.jsonl": ("line 11", "is not valid JSON (Exceeds the limit (4300 digits)"),
    "unpaired_surrogate.jsonl": ("line 11, field prediction", "unpaired surrogate"),
    "not_objects.jsonl": ("line 1", "is a JSON list, not an object"),
    "null_line.jsonl": ("line 1", "is a JSON null, not an object"),
    "fuzz_found_parquet_abort.parquet": (
        "fuzz_found_parquet_abort.parquet",
        "cannot be read as parquet: the file crashed the parquet parser (corrupt or crafted)",
    ),
    "bool_ids.jsonl": ("line 1, field example_id", "must be a string, not bool"),
    "object_prediction.jsonl": ("line 1, field prediction", "must be a string, not dict"),
    "number_ids.jsonl": ("line 1", "unknown example_id '0'"),
    "duplicate_keys.jsonl": ("line 1", "has the key 'example_id' twice"),
    "blank_ids.jsonl": ("line 1, column example_id", "is empty"),
    "empty.jsonl": ("empty.jsonl", "the file is empty"),
    "empty.csv": ("empty.csv", "the file is empty"),
    "empty.parquet": ("empty.parquet", "the file is empty"),
    "blank_only.jsonl": ("blank_only.jsonl", "the file is empty"),
    "headers_only.csv": ("headers_only.csv", "the file has no rows"),
    "headers_only_bom.csv": ("headers_only_bom.csv", "the file has no rows"),
    "headers_only.parquet": ("headers_only.parquet", "the file has no rows"),
    "duplicate_columns.csv": ("duplicate_columns.csv, column example_id", "appears 2 times"),
    "missing_column.csv": ("missing_column.csv, column prediction", "is missing"),
    "ragged.csv": ("ragged.csv", "cannot be read as csv: CSV parse error: Expected 3 columns, got 2"),
    "unknown_ids.csv": ("row 1", "unknown example_id '../../etc/passwd'"),
    "wrong_type_list.parquet": ("column example_id", "must hold text, not list<element: int64>"),
    "wrong_type_struct.parquet": ("column prediction", "must hold text, not struct<a: int64>"),
    "binary_not_utf8.parquet": ("column example_id", "must hold UTF-8 text"),
    "lying_footer_rows.parquet": (
        "lying_footer_rows.parquet",
        "corrupt parquet file: its footer says 3 rows",
    ),
    "lying_rowgroup_rows.parquet": ("lying_rowgroup_rows.parquet", "its row groups 1,000,000,000,000"),
    "lying_column_values.parquet": ("lying_column_values.parquet", "its columns 10 to 9,000,000 values"),
    "truncated.parquet": ("truncated.parquet", "cannot be read as parquet"),
    "not_parquet.parquet": ("not_parquet.parquet", "cannot be read as parquet"),
    "samples_empty_responses.jsonl": ("samples_empty_responses.jsonl: line 1", "are not log-likelihoods"),
    "samples_without_doc.jsonl": ("samples_without_doc.jsonl: line 1", "has no `doc` object"),
    "samples_foreign_doc.jsonl": ("samples_foreign_doc.jsonl: line 1", "has no example_id/variant_id"),
    "predictions.txt": ("predictions.txt", "unknown format 'txt'"),
}


def corpus_files() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if not p.name.startswith("."))


def scored(labels, path: Path) -> dict:
    return score(labels, read_predictions(path), n_resamples=RESAMPLES, seed=0)


def problems_of(labels, path: Path) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        scored(labels, path)
    return caught.value


def test_every_crafted_file_has_an_expected_outcome():
    expected = set(SCORES_LIKE) | set(REFERENCES) | set(PROBLEMS)
    assert set(corpus_files()) == expected
    assert not set(SCORES_LIKE) & set(PROBLEMS)


def test_the_references_score_as_full_coverage_submissions(labels):
    for name in REFERENCES:
        result = scored(labels, CORPUS / name)
        assert result["coverage"] == 1.0 and 0 < result["metrics"]["accuracy"] < 1


@pytest.mark.parametrize("name", sorted(SCORES_LIKE))
def test_a_variant_scores_exactly_like_its_clean_twin(labels, name):
    assert dumps_json(scored(labels, CORPUS / name)) == dumps_json(scored(labels, CORPUS / SCORES_LIKE[name]))


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_broken_file_ends_in_one_clear_problem_naming_where(labels, name):
    where, what = PROBLEMS[name]
    err = problems_of(labels, CORPUS / name)
    assert any(where in p.location and what in p.message for p in err.problems), err.problems
    assert all(p.location and p.message for p in err.problems)
    text = str(err)
    assert text.splitlines()[0].endswith(":") and "Traceback" not in text
    assert str(CORPUS) not in text  # the file is named, never a server-side path


@pytest.mark.parametrize("name", corpus_files())
def test_the_score_command_prints_a_score_or_the_problems_never_a_traceback(release, name, capsys):
    code = main(
        ["score", "--labels", str(release.labels), "--predictions", str(CORPUS / name), "--resamples", "20"]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if name in PROBLEMS:
        assert code == 2 and out == ""
        head, *lines = err.rstrip("\n").split("\n")
        assert head.startswith("robustboard score: error: ") and "problem" in head
        assert PROBLEMS[name][1] in err
        assert all(line.startswith("  ") for line in lines)  # a problem list, one problem a line
    else:
        assert code == 0 and err == ""
        assert json.loads(out)["coverage"] == 1.0


@pytest.mark.parametrize("name", corpus_files())
def test_a_store_records_what_scores_and_writes_nothing_for_what_does_not(make_store, release, name):
    store = make_store()
    model = {"name": "corpus/model", "revision": name.replace(".", "-"), "type": "other"}
    if name in PROBLEMS:
        with pytest.raises(ValidationError):
            store.submit(CORPUS / name, release=release.ref, model=model, submitter="corpus")
        assert store.requests() == [] and store.backend.list_files("raw") == []
        return
    request = store.submit(CORPUS / name, release=release.ref, model=model, submitter="corpus")
    (done,) = store.run_pending(n_resamples=RESAMPLES)
    assert done["status"] == "FINISHED"
    assert store.backend.list_files("raw") == [f"raw/{request['raw_sha256']}"]
    (result,) = store.results()
    expected = scored_reference(store, release, SCORES_LIKE.get(name, name))
    assert result["metrics"] == expected


def scored_reference(store, release, name: str) -> dict:
    labels = store.labels(store.release(release.ref))
    from submissions.store import families_of

    families = families_of(store.release(release.ref))
    return json.loads(
        dumps_json(score(labels, read_predictions(CORPUS / name), n_resamples=RESAMPLES, families=families))
    )["metrics"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`robustboard ...` as a user runs it: a fresh interpreter, output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*ROBUSTBOARD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def test_in_a_real_process_hostile_files_exit_2_with_the_problems_on_stderr(release):
    names = [
        "fuzz_found_parquet_abort.parquet",  # aborts pyarrow in process: its dying words must not show
        "null_line.jsonl",  # segfaults pyarrow's JSON reader in process
        "lying_rowgroup_rows.parquet",
        "deeply_nested_line.jsonl",
        "utf16_bom.csv",
        "duplicate_keys.jsonl",
    ]
    procs = {
        name: subprocess.Popen(
            [
                *ROBUSTBOARD,
                "score",
                "--labels",
                str(release.labels),
                "--predictions",
                str(CORPUS / name),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        for name in names
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, (name, err)
        assert out == "" and "Traceback" not in err and "terminate called" not in err
        assert err.startswith("robustboard score: error: 1 problem in predictions ")
        assert PROBLEMS[name][1] in err


def test_a_100_mb_single_line_is_one_problem_of_line_1(release, tmp_path):
    path = tmp_path / "one-line.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"example_id": "mmlu-0", "variant_id": "original", "prediction": "')
        fh.write(b"x" * (100 * 2**20))  # never closed: one 100 MB line of broken JSON
    proc = run_cli("score", "--labels", str(release.labels), "--predictions", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "robustboard score: error: 1 problem in predictions one-line.jsonl:",
        "  line 1: is not valid JSON (Unterminated string starting, column 66)",
    ]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(release, tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        fh.truncate(100 * 2**20)  # 100 MB of NUL bytes: reading it would be a JSON error, not this
    proc = run_cli(
        "score", "--labels", str(release.labels), "--predictions", str(path), "--max-file-mb", "50"
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[1] == (
        "  big.jsonl: the file is 100.0 MB; the limit is 50 MB per submission "
        "(set by ROBUSTBOARD_MAX_FILE_MB or --max-file-mb)"
    )


@pytest.mark.slow
def test_a_100_mb_prediction_is_scored_like_any_wrong_answer(release, reference, tmp_path):
    """A valid record whose prediction is 100 MB of text: read, extracted (no answer) and scored."""
    huge = [dict(r) for r in reference]
    huge[0]["prediction"] = "y" * (100 * 2**20)  # row 0 of the reference is a formula: wrong either way
    path = tmp_path / "huge.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in huge), "utf-8")
    proc = run_cli("score", "--labels", str(release.labels), "--predictions", str(path), "--resamples", "20")
    assert proc.returncode == 0, proc.stderr
    clean = run_cli(
        "score",
        "--labels",
        str(release.labels),
        "--predictions",
        str(CORPUS / "reference.jsonl"),
        "--resamples",
        "20",
    )
    assert json.loads(proc.stdout)["metrics"]["accuracy"] == json.loads(clean.stdout)["metrics"]["accuracy"]
