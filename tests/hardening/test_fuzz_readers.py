"""Fuzzing every submission reader (JSONL, CSV, parquet, lm-eval samples) with hypothesis.

Two properties per reader:

* **anything in, a clear outcome out**: arbitrary content (any text, numbers, booleans, nulls, nested
  values where text belongs, missing and duplicated fields, BOMs, CRLF, blank lines) and then random
  byte mutations (flips, insertions, deletions, truncation, duplicated slices — for parquet that means
  corrupt pages and lying footers). Reading ends in a frame of three text columns or in a
  ValidationError whose every problem has a location and a message; scoring what was read ends in a
  score with sane numbers or in a ValidationError. Never another exception, never a hang (a deadline).
* **valid in, exact out**: a well-formed file of real ids reads back exactly the rows written, and
  scores exactly like the same rows handed to the scorer directly.

The default run tries FAST examples per property; the `slow` run (`pytest -m slow`) tries SLOW
(10,000 per reader for the first property).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustboard.atomic import dumps_json
from submissions.formats import PREDICTION_COLUMNS, read_predictions
from submissions.metrics import score
from submissions.validation import ValidationError
from tests.hardening.release import EXAMPLE_IDS, VARIANT_IDS

FAST, SLOW = 200, 10_000
FAST_EXACT, SLOW_EXACT = 25, 2_000
DEADLINE = 20.0  # seconds for one example, far above the few milliseconds one takes: a hang fails
RESAMPLES = 20


def fuzz(n: int):
    return settings(
        max_examples=n,
        deadline=timedelta(seconds=DEADLINE),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ------------------------------------------------------------------------------------------ strategies
WEIRD = ["", " ", "\t", "\x00", "../../x", "=cmd|' /C calc'!A0", "<script>", "null", "0", "\u202e", "𝔘"]
ANY_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(WEIRD))
SCALARS = st.one_of(ANY_TEXT, st.integers(), st.floats(), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=6,
)
KEY_CHOICES = st.sampled_from([*PREDICTION_COLUMNS, *PREDICTION_COLUMNS, "task", "extra", ""])
# Most cases should get past the reader, so that the scorer is fuzzed too: real ids of the release and
# answers that look like answers, mixed with anything at all.
EXAMPLE = st.one_of(st.sampled_from(EXAMPLE_IDS), st.sampled_from(EXAMPLE_IDS), ANY_TEXT)
VARIANT = st.one_of(st.sampled_from(VARIANT_IDS), st.sampled_from(VARIANT_IDS), ANY_TEXT)
ANSWER = st.one_of(
    st.sampled_from(["A", "b", "(C)", "iv", "2", "²", "２", "Answer: D", "the second one", ""]), ANY_TEXT
)
FIELD = {"example_id": EXAMPLE, "variant_id": VARIANT, "prediction": ANSWER}
PAIRS = st.lists(
    st.tuples(st.sampled_from(EXAMPLE_IDS), st.sampled_from(VARIANT_IDS)), max_size=12, unique=True
)


@st.composite
def clean_rows(draw) -> list[dict]:
    """Rows of distinct real (example_id, variant_id) pairs with any answer: files the scorer takes."""
    return [{"example_id": e, "variant_id": v, "prediction": draw(ANSWER)} for e, v in draw(PAIRS)]


@st.composite
def plausible(draw) -> dict:
    """A record with the three fields (sometimes of the wrong type), sometimes an extra field."""
    record = {k: draw(st.one_of(v, v, v, VALUES)) for k, v in FIELD.items()}
    if draw(st.integers(0, 3)) == 0:
        record[draw(ANY_TEXT)] = draw(VALUES)
    return record


# A third of the cases are well-formed files of text fields (they reach the scorer), a third carry wrong
# types, missing fields and odd lines, a third are then broken by random byte edits.
MODES = st.sampled_from(["clean", "noisy", "mutated"])


@st.composite
def mutated(draw, data: bytes, mode: str = "mutated") -> bytes:
    """`data` after 1-3 random edits in mode `mutated`: flip, insert, delete, truncate, duplicate a slice."""
    if mode != "mutated":
        return data
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def layout(draw, lines: list[bytes]) -> bytes:
    """Join lines as files come: LF or CRLF, blank lines, an optional UTF-8 BOM, a final newline or not."""
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    out = []
    for line in lines:
        out.extend([b""] * draw(st.integers(0, 1)))
        out.append(line)
    text = newline.join(out) + (newline if draw(st.booleans()) else b"")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text


@st.composite
def any_records(draw, mode: str) -> list:
    """JSON values for lines: clean records of the three text fields, or objects holding anything."""
    if mode == "clean":
        return draw(clean_rows())
    records = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            records.append(draw(VALUES))
        elif kind <= 2:
            records.append({draw(KEY_CHOICES): draw(VALUES) for _ in range(draw(st.integers(0, 5)))})
        else:
            records.append(draw(plausible()))
    return records


def jsonl_bytes(draw, records: list) -> bytes:
    ascii_only = draw(st.booleans())
    lines = [json.dumps(r, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass") for r in records]
    return draw(layout(lines))


@st.composite
def any_jsonl(draw) -> bytes:
    mode = draw(MODES)
    return draw(mutated(jsonl_bytes(draw, draw(any_records(mode))), mode))


@st.composite
def any_csv(draw) -> bytes:
    mode = draw(MODES)
    if mode == "clean":
        header = list(draw(st.permutations(PREDICTION_COLUMNS)))
        rows = [[row[name] for name in header] for row in draw(clean_rows())]
    elif draw(st.integers(0, 3)):
        header = list(draw(st.permutations(PREDICTION_COLUMNS)))
        cells = [FIELD[name] for name in header]
        rows = draw(st.lists(st.tuples(*cells), max_size=10))
    else:
        header = draw(st.lists(KEY_CHOICES, min_size=0, max_size=5))
        width = draw(st.integers(max(1, len(header) - 1), len(header) + 1))
        rows = draw(st.lists(st.lists(ANY_TEXT, min_size=width, max_size=width), max_size=10))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
    )
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8", "surrogatepass")
    return draw(mutated((b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data, mode))


PARQUET_TYPES = st.sampled_from(
    ["string", "large_string", "int64", "float64", "bool", "binary", "list", "struct", "dictionary", "null"]
)


def _column(kind: str, n: int, draw) -> pa.Array:
    texts = draw(st.lists(st.one_of(ANY_TEXT, st.none()), min_size=n, max_size=n))
    clean = [None if t is None else t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    if kind == "string":
        return pa.array(clean, pa.string())
    if kind == "large_string":
        return pa.array(clean, pa.large_string())
    if kind == "dictionary":
        return pa.array(clean, pa.string()).dictionary_encode()
    if kind == "int64":
        return pa.array(
            draw(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()), min_size=n, max_size=n)),
            pa.int64(),
        )
    if kind == "float64":
        return pa.array(
            draw(st.lists(st.one_of(st.floats(), st.none()), min_size=n, max_size=n)), pa.float64()
        )
    if kind == "bool":
        return pa.array(
            draw(st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n)), pa.bool_()
        )
    if kind == "binary":
        return pa.array(
            draw(st.lists(st.one_of(st.binary(max_size=6), st.none()), min_size=n, max_size=n)), pa.binary()
        )
    if kind == "list":
        return pa.array([None if t is None else [t] for t in clean], pa.list_(pa.string()))
    if kind == "struct":
        return pa.array([{"a": t} for t in clean], pa.struct([("a", pa.string())]))
    return pa.nulls(n)


@st.composite
def any_parquet(draw) -> bytes:
    n = draw(st.integers(0, 12))
    mode = draw(MODES)
    if mode == "clean":
        rows = draw(clean_rows())
        names = list(PREDICTION_COLUMNS)
        columns = [pa.array([r[name] for r in rows], pa.string()) for name in names]
    elif draw(st.integers(0, 3)):
        names = list(PREDICTION_COLUMNS)
        columns = [
            pa.array(draw(st.lists(FIELD[name], min_size=n, max_size=n)), pa.string())
            if draw(st.integers(0, 3))
            else _column(draw(PARQUET_TYPES), n, draw)
            for name in names
        ]
        columns = [c.cast(pa.string()) if pa.types.is_string(c.type) else c for c in columns]
    else:
        names = draw(st.lists(KEY_CHOICES, min_size=1, max_size=5))
        columns = [_column(draw(PARQUET_TYPES), n, draw) for _ in names]
    buffer = io.BytesIO()
    table = pa.Table.from_arrays(columns, names=names)
    pq.write_table(
        table,
        buffer,
        row_group_size=draw(st.sampled_from([1, 4, 1024])),
        compression=draw(st.sampled_from(["none", "snappy", "zstd"])),
    )
    return draw(mutated(buffer.getvalue(), mode))


@st.composite
def any_lmeval(draw) -> bytes:
    mode = draw(MODES)
    if mode == "clean":
        records = [
            {
                "doc_id": i,
                "doc": {k: r[k] for k in ("example_id", "variant_id")},
                "filtered_resps": [r["prediction"]],
            }
            for i, r in enumerate(draw(clean_rows()))
        ]
        return jsonl_bytes(draw, records)
    records = []
    for i in range(draw(st.integers(0, 8))):
        record = {"doc_id": i}
        if draw(st.integers(0, 3)):
            record["doc"] = (
                {
                    "example_id": draw(st.one_of(EXAMPLE, VALUES)),
                    "variant_id": draw(st.one_of(VARIANT, VALUES)),
                }
                if draw(st.integers(0, 3))
                else draw(VALUES)
            )
        if draw(st.booleans()):
            record["arguments"] = draw(
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(["gen_args_0", "gen_args_1", "gen_args_x", "x"]),
                        st.dictionaries(st.sampled_from(["arg_0", "arg_1"]), VALUES, max_size=2),
                        max_size=3,
                    ),
                    st.lists(st.lists(VALUES, max_size=3), max_size=3),
                    VALUES,
                )
            )
        record["filtered_resps"] = draw(
            st.one_of(st.lists(ANSWER, min_size=1, max_size=1), st.lists(VALUES, max_size=4), VALUES)
        )
        if draw(st.booleans()):
            record["filter"] = draw(st.sampled_from(["none", "strict-match", "flexible-extract"]))
        records.append(record)
    return draw(mutated(jsonl_bytes(draw, records), mode))


# ----------------------------------------------------------------------------------------- properties
TALLY_FILE = Path(__file__).resolve().parents[2] / "test-artifacts" / "hardening" / "fuzz-tally.json"
TALLIES: dict[str, Counter] = {}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder for the generated files; on the way out, the outcome counts of this run are written to
    test-artifacts/hardening/fuzz-tally.json (merged by test name; the figures docs/reliability.md cites)."""
    yield tmp_path_factory.mktemp("fuzz")
    TALLY_FILE.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(TALLY_FILE.read_text()) if TALLY_FILE.exists() else {}
    TALLY_FILE.write_text(
        json.dumps({**old, **{k: dict(v) for k, v in TALLIES.items()}}, indent=1, sort_keys=True)
    )


def check_outcome(
    path: Path, labels: pd.DataFrame, fmt: str | None = None, tally: Counter | None = None
) -> pd.DataFrame | None:
    """Read then score `path`: a valid frame and a sane score, or ValidationErrors with located problems.
    `tally` counts the outcomes (for docs/reliability.md)."""
    tally = Counter() if tally is None else tally
    started = time.monotonic()
    tally["cases"] += 1
    try:
        frame = read_predictions(path, format=fmt)
    except ValidationError as err:
        assert_clear(err)
        tally["refused by the reader"] += 1
        return None
    assert list(frame.columns[:3]) == list(PREDICTION_COLUMNS)
    for name in PREDICTION_COLUMNS:
        assert str(frame[name].dtype) == "string[pyarrow]"
    assert frame["_where"].between(1, 1 << 40).all()
    try:
        result = score(labels, frame, n_resamples=RESAMPLES)
    except ValidationError as err:
        assert_clear(err)
        tally["read, refused by the scorer"] += 1
    else:
        tally["read and scored"] += 1
        assert 0 <= result["coverage"] <= 1
        accuracy = result["metrics"]["accuracy"]
        assert math.isnan(accuracy) or 0 <= accuracy <= 1
        dumps_json(result)  # the result record is valid JSON (no NaN, no stray types)
    assert time.monotonic() - started < DEADLINE
    return frame


def assert_clear(err: ValidationError) -> None:
    assert err.problems and err.n_problems >= len(err.problems)
    for problem in err.problems:
        assert problem.location.strip() and problem.message.strip()
    text = str(err)
    assert "Traceback" not in text and text.splitlines()[0].endswith(":")


def write(workdir: Path, name: str, data: bytes) -> Path:
    path = workdir / name
    path.write_bytes(data)
    return path


def _any(reader: str, strategy, name: str, fmt: str | None, n: int):
    tally = TALLIES.setdefault(f"any {reader} ({n})", Counter())

    @fuzz(n)
    @given(data=strategy())
    def run(workdir, labels, data):
        check_outcome(write(workdir, name, data), labels, fmt, tally)

    run.__name__ = f"{reader}_{n}"
    return run


CASES = {
    "jsonl": (any_jsonl, "fuzz.jsonl", None),
    "csv": (any_csv, "fuzz.csv", None),
    "parquet": (any_parquet, "fuzz.parquet", None),
    "lm-eval": (any_lmeval, "samples_fuzz.jsonl", "lm-eval"),
}


@pytest.mark.parametrize("reader", sorted(CASES))
def test_any_file_ends_in_a_frame_or_located_problems(reader, workdir, labels):
    strategy, name, fmt = CASES[reader]
    _any(reader, strategy, name, fmt, FAST)(workdir, labels)


@pytest.mark.slow
@pytest.mark.parametrize("reader", sorted(CASES))
def test_any_file_ends_in_a_frame_or_located_problems_10000_cases(reader, workdir, labels):
    strategy, name, fmt = CASES[reader]
    _any(reader, strategy, name, fmt, SLOW)(workdir, labels)


# ------------------------------------------------------------------------------------- valid, exact
SAFE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=10
)


@st.composite
def valid_rows(draw, ids: list[tuple[str, str]]) -> list[dict]:
    """Distinct real (example_id, variant_id) pairs, each with a prediction: a real option label, an index,
    free text or nothing."""
    chosen = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=24, unique=True))
    answers = st.one_of(
        st.sampled_from(["A", "B", "C", "D", "i", "ii", "iii", "iv", "1", "4", "The answer is C"]), SAFE_TEXT
    )
    return [{"example_id": e, "variant_id": v, "prediction": draw(answers)} for e, v in chosen]


def encode(rows: list[dict], fmt: str, draw) -> bytes:
    if fmt == "jsonl":
        return jsonl_bytes(draw, rows)
    if fmt == "csv":
        buffer = io.StringIO()
        csv.DictWriter(
            buffer,
            fieldnames=PREDICTION_COLUMNS,
            lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
            quoting=csv.QUOTE_ALL,
        ).writeheader()
        csv.DictWriter(
            buffer, fieldnames=PREDICTION_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_ALL
        ).writerows(rows)
        return buffer.getvalue().encode()
    if fmt == "parquet":
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buffer, row_group_size=draw(st.sampled_from([1, 5, 1024])))
        return buffer.getvalue()
    records = [
        {
            "doc_id": i,
            "doc": {"example_id": r["example_id"], "variant_id": r["variant_id"]},
            "arguments": {"gen_args_0": {"arg_0": "Q", "arg_1": {"until": ["\n"]}}},
            "filtered_resps": [r["prediction"]],
            "filter": "none",
        }
        for i, r in enumerate(rows)
    ]
    return jsonl_bytes(draw, records)


@pytest.fixture(scope="module")
def ids(labels) -> list[tuple[str, str]]:
    return sorted(zip(labels["example_id"], labels["variant_id"], strict=True))


def _exact(fmt: str, n: int):
    name = "samples_exact.jsonl" if fmt == "lm-eval" else f"exact.{fmt}"
    tally = TALLIES.setdefault(f"exact {fmt} ({n})", Counter())

    @fuzz(n)
    @given(data=st.data())
    def run(workdir, labels, ids, data):
        rows = data.draw(valid_rows(ids))
        frame = check_outcome(
            write(workdir, name, encode(rows, fmt, data.draw)),
            labels,
            "lm-eval" if fmt == "lm-eval" else None,
            tally,
        )
        assert frame is not None
        assert frame[list(PREDICTION_COLUMNS)].astype(object).to_dict("records") == rows
        direct = score(labels, pd.DataFrame(rows), n_resamples=RESAMPLES)
        assert dumps_json(score(labels, frame, n_resamples=RESAMPLES)) == dumps_json(direct)

    return run


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "lm-eval"])
def test_a_valid_file_reads_back_exactly_and_scores_like_its_rows(fmt, workdir, labels, ids):
    _exact(fmt, FAST_EXACT)(workdir, labels, ids)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "lm-eval"])
def test_a_valid_file_reads_back_exactly_and_scores_like_its_rows_2000_cases(fmt, workdir, labels, ids):
    _exact(fmt, SLOW_EXACT)(workdir, labels, ids)
