#!/bin/bash
# pattern_samples 16 / 32 on every finished task run of this folder (KIND_TASK_SIZEpx_source.jsonl): one
# SWAP-only probe per cell with the whole batch's patterns (32), the same task, image size, batch and images,
# whose lines carry Psi[..p] for the first 16 and 32 images; ../patterns.py combines them with the main
# run's Lambda (which does not depend on them). Writes patterns-FILE next to each run (a name report.sh's
# score-run glob does not take). Resumable; run from this folder: bash patterns.sh
set -e
DATA=${LSWAG_DATA:-../../../../shared/data}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
# Smallest runs first, so a partial pass covers whole tasks.
for file in $(wc -l micro_*_source.jsonl macro_*_source.jsonl 2>/dev/null | sort -n | awk '$2 != "total" {print $2}'); do
  kind=${file%%_*}
  rest=${file#*_}
  task=$(echo "$rest" | sed -E 's/_[0-9]+px.*//')
  size=$(echo "$rest" | sed -E 's/.*_([0-9]+)px.*/\1/')
  keys=$(mktemp)
  python3 -c "
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if 'arch' in r and r.get('profile'): print(r['arch'])
" "$file" > "$keys"
  if [ "$(wc -l < "$keys")" -ge 30 ]; then
    echo "== $(date -u +%FT%TZ) patterns-$file"
    RUST_BACKTRACE=0 RAYON_NUM_THREADS=1 nice -n 19 "$B" score --space tnb101-$kind --task "$task" \
      --image-size "$size" --batch 32 --data "cifar10:$DATA/cifar10/cifar10_test_1000.bin" \
      --archs "$keys" --proxies swap --pattern-samples 32 --backend cpu --out "patterns-$file" \
      > "patterns-${file%.jsonl}.log" 2>&1
  fi
  rm -f "$keys"
done
