#!/bin/bash
# One resumable NB101 evidence shard: scores the keys of KEYS into OUT with every proxy, activation
# patterns over the whole batch (as scores.jsonl's first 82 cells, written before the default became 16;
# PSAMPLES overrides), restarting after a crash (the kernel's OOM killer on a shared machine) until every key is written.
# Run from the repository root: nohup bash assets/evidence/nb101/run.sh KEYS OUT >> LOG 2>&1 &
set -u
keys=$1 out=$2
DATA=${LSWAG_DATA:-../shared/data}
B=${LSWAG_BIN:-target/debug/lswag-studio}
for try in $(seq 20); do
  rm -f "$out.lock"
  nice -n 10 env RAYON_NUM_THREADS=1 "$B" score --space nb101 --archs "$keys" \
    --data "cifar10:$DATA/cifar10/cifar10_test_1000.bin" --batch 64 --backend cpu --proxies all --seed 0 \
    --pattern-samples "${PSAMPLES:-64}" \
    --out "$out"
  rc=$?
  [ "$rc" = 0 ] && exit 0
  echo "$(date -u +%FT%TZ) score exited with $rc; restarting (try $try)"
  sleep 5
done
exit 1
