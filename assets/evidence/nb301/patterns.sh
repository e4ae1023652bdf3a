#!/bin/bash
# pattern_samples 16 / 32 / 64 on the NB301 cells the main run has scored: one SWAP-only probe with
# patterns over the whole batch, whose lines carry Psi[..p] for the first 16, 32 and 64 images, combined
# by ../patterns.py with the main run's Lambda (which does not depend on them).
# Resumable; run from this folder: bash patterns.sh
set -e
DATA=${LSWAG_DATA:-../../../../shared/data}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
keys=$(mktemp)
python3 -c "
import json, sys
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        if 'arch' in r: print(r['arch'])
" scores.0.jsonl scores.1.jsonl > "$keys"
RUST_BACKTRACE=0 RAYON_NUM_THREADS=1 nice -n 19 "$B" score --space nb301 --archs "$keys" --proxies swap \
  --pattern-samples 64 --seed 0 --data "cifar10:$DATA/cifar10/cifar10_test_1000.bin" --batch 64 \
  --backend cpu --out patterns.jsonl > patterns.log 2>&1
rm -f "$keys"
# The table: bash report.sh (its pattern_samples section).
