#!/usr/bin/env bash
# Create the benchmark peers' virtual environment (.bench-venv/, gitignored), separate from the product's.
#
# A clean venv: the peers' own dependency pins (flair, pulled in by textattack, wants transformers<5,
# which wants huggingface-hub<1) cannot coexist with the product's datasets/huggingface-hub, so the
# peers get their own resolution and the product environment is never touched. torch is constrained
# to the local 2.13.0 CPU wheel so that no peer can pull a CUDA build, and matplotlib must come as a
# wheel (otherwise pip's backtracking builds a dozen old matplotlib sdists). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BENCH_VENV:-.bench-venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --prefer-binary \
    --only-binary matplotlib,numpy,scipy,pandas,pyarrow,scikit-learn,tokenizers \
    -c bench/peers/constraints.txt -r bench/peers/requirements.txt
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("nlpaug", "textattack", "unitxt", "lm_eval", "torch", "transformers", "nltk", "numpy", "pandas"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: MISSING")
PY
