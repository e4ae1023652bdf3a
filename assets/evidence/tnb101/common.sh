#!/bin/bash
# The evidence runs' settings in one place, sourced by queue.sh and helper.sh (which score one task's
# file from both ends, so their probes must be the same). Expects N, B (the binary) and DATA set.

# The first N keys of TASK in the KIND Suite-Zero file, in file order; "reversed" as a third argument
# gives them last first.
task_keys() {
  python3 -c "import json,sys; k=list(json.load(open(sys.argv[1]))[sys.argv[2]])[:int(sys.argv[3])]; print('\n'.join(reversed(k) if sys.argv[4:] == ['reversed'] else k))" \
    "$DATA/suite_zero/zc_transbench101_$1.json" "$2" "$N" "${3:-}"
}

# Cells scored in a run's output: its lines less the provenance header, 0 before it exists.
cells() { [ -f "$1" ] && echo $(($(wc -l < "$1") - 1)) || echo 0; }

# One probe, one thread, niced: every proxy on the KEYS file's cells of KIND TASK at SIZE px into
# OUT.jsonl (resumed where it exists), its progress appended to OUT.log. Batch 32, the builder's init,
# CIFAR-10 test images resized, patterns of the whole batch.
score_cells() {
  local kind=$1 task=$2 size=$3 keys=$4 out=$5
  RUST_BACKTRACE=0 RAYON_NUM_THREADS=1 nice -n 19 "$B" score --space "tnb101-$kind" --task "$task" \
    --image-size "$size" --batch 32 --data "cifar10:$DATA/cifar10/cifar10_test_1000.bin" \
    --archs "$keys" --proxies all --pattern-samples 32 --backend cpu --out "$out.jsonl" >> "$out.log" 2>&1
}
