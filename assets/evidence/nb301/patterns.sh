#!/bin/bash
# pattern_samples 16 / 32 against the default 64 on the NB301 cells the main run has scored: a SWAP-only
# probe per setting (the activation patterns of the first K of the 64 images), combined with the main
# run's Lambda (which does not depend on K): L-SWAG[1..10] = sum of lambda_bin x Psi[..10], and
# Psi[..10] is SWAP. Resumable; run from this folder: bash patterns.sh
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
for k in 16 32; do
  RUST_BACKTRACE=0 RAYON_NUM_THREADS=1 nice -n 19 "$B" score --space nb301 --archs "$keys" --proxies swap \
    --pattern-samples $k --seed 0 --data "cifar10:$DATA/cifar10/cifar10_test_1000.bin" --batch 64 \
    --backend cpu --out patterns$k.jsonl > patterns$k.log 2>&1
done
rm -f "$keys"
# The table: bash report.sh (its pattern_samples section).
