"""Write the crafted files of `corpus/` (run once; the files are committed, this script documents them).

    NLTK_DATA=../shared/nltk_data python -m tests.hardening.make_corpus

Every file names the real ids of the small release of `release.py`. Files expected to score are
variants of `reference.jsonl` (a submission that never looks at a gold answer) or of
`numbers_reference.jsonl` that must score exactly like it; every other file must end in one clear
problem. The expected outcome of each file is the table in `test_corpus.py`. Files too big to commit
(a 100 MB single line) are made at test time. Files named `fuzz_found_*` are kept exactly as the fuzzer
(`test_fuzz_readers.py`) found them: each crashed a parser in C++ before the readers were hardened
(`fuzz_found_parquet_abort.parquet` aborts pyarrow 26 when its column chunk metadata is read;
`null_line.jsonl`, written here, is the minimal input that segfaults its JSON reader).
"""

from __future__ import annotations

import csv
import io
import json
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.hardening.release import build, reference_rows

CORPUS = Path(__file__).resolve().parent / "corpus"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
COLUMNS = ("example_id", "variant_id", "prediction")


def jsonl(rows: list[dict], *, newline: str = "\n") -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + newline for r in rows).encode("utf-8")


def csv_bytes(rows: list[dict], *, newline: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def table(rows: list[dict], **types: pa.DataType) -> pa.Table:
    return pa.table(
        {c: pa.array([r[c] for r in rows], types.get(c, pa.string())) for c in COLUMNS if c in rows[0]}
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            return bytes(out + bytes([byte]))
        out.append(byte | 0x80)


def lie_about_rows(data: bytes, field: int, rows: int) -> bytes:
    """Rewrite one row count in a parquet footer (thrift compact protocol) to `rows`.

    In a small file written by pyarrow, the footer's i64 fields that directly follow field 2 (the
    byte 0x16: delta 1, type i64) holding the value 10 (zigzag 0x14) are, in order: the file's
    num_rows (field 0), each column chunk's num_values (1..3, in column order) and the row group's
    num_rows (the last). The rest of the file is untouched, so only the footer lies.
    """
    length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - length : -8]
    positions = [i for i in range(len(footer) - 1) if footer[i : i + 2] == b"\x16\x14"]
    at = positions[field]
    new = footer[: at + 1] + _varint((rows << 1) ^ (rows >> 63)) + footer[at + 2 :]
    return data[: -8 - length] + new + len(new).to_bytes(4, "little") + b"PAR1"


def lmeval(rows: list[dict]) -> bytes:
    """lm-eval `--log_samples` records of a generate_until task whose filtered response is the answer."""
    records = [
        {
            "doc_id": i,
            "doc": {"example_id": r["example_id"], "variant_id": r["variant_id"]},
            "target": "",
            "arguments": {"gen_args_0": {"arg_0": "Question ...\nAnswer:", "arg_1": {"until": ["\n"]}}},
            "resps": [[r["prediction"]]],
            "filtered_resps": [r["prediction"]],
            "filter": "none",
            "metrics": ["exact_match"],
        }
        for i, r in enumerate(rows)
    ]
    return jsonl(records)


def _replace(rows: list[dict], predictions: dict[int, str]) -> list[dict]:
    return [{**r, "prediction": predictions.get(i, r["prediction"])} for i, r in enumerate(rows)]


def files(reference: list[dict]) -> dict[str, bytes]:
    ten = reference[:10]
    numbers = [{**r, "prediction": 1 + i % 4} for i, r in enumerate(reference)]
    numbers_text = [{**r, "prediction": str(r["prediction"])} for r in numbers]
    shuffled = list(reference)
    random.Random(0).shuffle(shuffled)
    first = json.dumps(reference[0], ensure_ascii=False).encode()[:-1]  # without the closing brace
    deep_extra = jsonl(reference[1:]) + first + b', "extra": ' + b"[" * 20_000 + b"]" * 20_000 + b"}\n"
    out: dict[str, bytes] = {
        # --- must score exactly like reference.jsonl
        "reference.jsonl": jsonl(reference),
        "formula_cells.csv": csv_bytes(reference),
        "reference.parquet": parquet_bytes(table(reference)),
        "utf8_bom.jsonl": b"\xef\xbb\xbf" + jsonl(reference),
        "utf8_bom.csv": b"\xef\xbb\xbf" + csv_bytes(reference),
        "crlf.jsonl": jsonl(reference, newline="\r\n"),
        "crlf.csv": csv_bytes(reference, newline="\r\n"),
        "blank_lines.jsonl": b"\n  \n".join(jsonl([r]).rstrip(b"\n") for r in reference) + b"\n\n",
        "shuffled.jsonl": jsonl(shuffled),
        "extra_fields.jsonl": jsonl(
            [{**r, "score": i, "meta": {"a": [1, {"b": None}]}} for i, r in enumerate(reference)]
        ),
        "dictionary.parquet": parquet_bytes(
            table(reference).cast(pa.schema([(c, pa.dictionary(pa.int32(), pa.string())) for c in COLUMNS]))
        ),
        "large_string.parquet": parquet_bytes(
            table(reference).cast(pa.schema([(c, pa.large_string()) for c in COLUMNS]))
        ),
        "samples_reference.jsonl": lmeval(reference),
        # --- digits that are not decimal (², ¼) are no index (int() refused them: a crash found by
        # fuzzing); a full-width ２ is the index 2
        "unicode_digits.jsonl": jsonl(_replace(reference, {4: "²", 5: "¼", 6: "２"})),
        "unicode_digits_reference.jsonl": jsonl(_replace(reference, {4: "x", 5: "x", 6: "2"})),
        # --- must score exactly like numbers_reference.jsonl (numbers where strings belong)
        "numbers_reference.jsonl": jsonl(numbers_text),
        "numbers.jsonl": jsonl(numbers),
        "numbers.csv": csv_bytes(numbers),
        "numbers.parquet": parquet_bytes(table(numbers, prediction=pa.int64())),
        # --- must end in one clear problem
        "deeply_nested_extra_field.jsonl": deep_extra,
        "utf16_bom.jsonl": jsonl(ten).decode().encode("utf-16"),
        "utf16_bom.csv": csv_bytes(ten).decode().encode("utf-16"),
        "utf32_bom.jsonl": jsonl(ten).decode().encode("utf-32"),
        "utf16_no_bom.jsonl": jsonl(ten).decode().encode("utf-16-le"),
        "latin1.jsonl": jsonl(ten)
        + '{"example_id": "mmlu-1", "variant_id": "original", "prediction": "café"}\n'.encode("latin-1"),
        "latin1.csv": csv_bytes(ten) + "mmlu-1,original,café\n".encode("latin-1"),
        "nul_in_value.jsonl": jsonl(ten)
        + b'{"example_id": "mmlu-1\x00", "variant_id": "original", "prediction": "A"}\n',
        "nul_line.jsonl": jsonl(ten) + b"\x00" * 64 + b"\n",
        "nul_in_value.csv": csv_bytes(ten) + b"mmlu-1,orig\x00inal,A\n",
        "deeply_nested_prediction.jsonl": jsonl(ten)
        + b'{"example_id": "mmlu-1", "variant_id": "original", "prediction": '
        + b"[" * 20_000
        + b"]" * 20_000
        + b"}\n",
        "deeply_nested_line.jsonl": jsonl(ten) + b"[" * 20_000 + b"\n",
        "huge_integer.jsonl": jsonl(ten)
        + b'{"example_id": "mmlu-1", "variant_id": "original", "prediction": '
        + b"9" * 5000
        + b"}\n",
        "unpaired_surrogate.jsonl": jsonl(ten)
        + b'{"example_id": "mmlu-1", "variant_id": "original", "prediction": "\\ud800"}\n',
        "null_line.jsonl": b"null\n",
        "not_objects.jsonl": b'["mmlu-0", "original", "A"]\n"mmlu-0"\n42\n',
        "bool_ids.jsonl": b'{"example_id": true, "variant_id": "original", "prediction": "A"}\n',
        "object_prediction.jsonl": b'{"example_id": "mmlu-0", "variant_id": "original", '
        b'"prediction": {"answer": "A"}}\n',
        "number_ids.jsonl": b'{"example_id": 0, "variant_id": 1, "prediction": "A"}\n',
        "duplicate_keys.jsonl": b'{"example_id": "mmlu-0", "example_id": "mmlu-1", '
        b'"variant_id": "original", "prediction": "A"}\n',
        "blank_ids.jsonl": b'{"example_id": "  ", "variant_id": "original", "prediction": "A"}\n',
        "empty.jsonl": b"",
        "empty.csv": b"",
        "empty.parquet": b"",
        "blank_only.jsonl": b"\n \n\t\n",
        "headers_only.csv": b"example_id,variant_id,prediction\n",
        "headers_only_bom.csv": b"\xef\xbb\xbfexample_id,variant_id,prediction\r\n",
        "headers_only.parquet": parquet_bytes(table(ten).slice(0, 0)),
        "duplicate_columns.csv": b"example_id,example_id,variant_id,prediction\nmmlu-0,mmlu-1,original,A\n",
        "missing_column.csv": b"example_id,variant_id\nmmlu-0,original\n",
        "ragged.csv": b"example_id,variant_id,prediction\nmmlu-0,original\nmmlu-1,original,A,B\n",
        "unknown_ids.csv": b"example_id,variant_id,prediction\n"
        b"../../etc/passwd,original,A\nmmlu-0,<script>,A\n",
        "wrong_type_list.parquet": parquet_bytes(
            pa.table({"example_id": [[1, 2]], "variant_id": ["original"], "prediction": ["A"]})
        ),
        "wrong_type_struct.parquet": parquet_bytes(
            pa.table({"example_id": ["mmlu-0"], "variant_id": ["original"], "prediction": [{"a": 1}]})
        ),
        "binary_not_utf8.parquet": parquet_bytes(
            pa.table(
                {
                    "example_id": pa.array([b"\xff\xfe"], pa.binary()),
                    "variant_id": ["original"],
                    "prediction": ["A"],
                }
            )
        ),
        "lying_footer_rows.parquet": lie_about_rows(parquet_bytes(table(ten)), 0, 3),
        "lying_rowgroup_rows.parquet": lie_about_rows(parquet_bytes(table(ten)), -1, 10**12),
        "lying_column_values.parquet": lie_about_rows(parquet_bytes(table(ten)), 2, 9_000_000),
        "truncated.parquet": parquet_bytes(table(reference))[:-200],
        "not_parquet.parquet": b"PAR1" + b"\x00" * 64 + b"PAR1",
        "samples_empty_responses.jsonl": b'{"doc_id": 0, "doc": {"example_id": "mmlu-0", '
        b'"variant_id": "original"}, "arguments": {"gen_args_0": {"arg_0": "q", "arg_1": " A"}}, '
        b'"filtered_resps": [[]]}\n',
        "samples_without_doc.jsonl": b'{"doc_id": 0, "filtered_resps": ["A"]}\n',
        "samples_foreign_doc.jsonl": b'{"doc_id": 0, "doc": {"question": "q"}, "filtered_resps": ["A"]}\n',
        "samples_deeply_nested.jsonl": b'{"doc_id": 0, "filtered_resps": ' + b"[" * 20_000 + b"\n",
        "samples_utf16.jsonl": lmeval(ten).decode().encode("utf-16"),
        "predictions.txt": jsonl(ten),
    }
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        release = build(SHARED_DATA, Path(tmp))
        reference = reference_rows(release)
    CORPUS.mkdir(exist_ok=True)
    for name, data in sorted(files(reference).items()):
        (CORPUS / name).write_bytes(data)
    print(f"wrote {len(files(reference))} files to {CORPUS}")


if __name__ == "__main__":
    main()
