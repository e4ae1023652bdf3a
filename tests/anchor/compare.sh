#!/bin/bash
# Side-by-side speed of the studio's probe and the PyTorch anchor (torch_probe.py) on one machine in one
# run: the same NB201 cells (KEYS, default the first 12 of the shared NB201 table), batch 64 at 32 x 32,
# C = 16, N = 5, proxies lswag, zico, swap, nwot, synflow, params; both on every core (the studio's
# `score` runs one probe per core; the anchor one process per core, one thread each). ROUNDS runs each,
# alternating, then the medians. Run from the repository root with a Python that has torch:
#   PY=/path/to/venv/bin/python bash tests/anchor/compare.sh [KEYS] [ROUNDS]
set -eu
DATA=${LSWAG_DATA:-../shared/data}
B=${LSWAG_BIN:-target/debug/lswag-studio}
PY=${PY:-python3}
ROUNDS=${2:-3}
CORES=$(nproc)
work=$(mktemp -d)
keys=${1:-$work/keys.txt}
[ -s "$keys" ] || python3 -c "
import csv, sys
rows = csv.DictReader(open(sys.argv[1]))
print('\n'.join(r['arch_str'] for _, r in zip(range(12), rows)))" "$DATA/nb201/nb201_accuracies.csv" > "$keys"
split -n l/$CORES -d "$keys" "$work/part."
ours=(); theirs=()
for r in $(seq "$ROUNDS"); do
  rm -f "$work/ours.jsonl"
  t0=$(date +%s.%N)
  "$B" score --archs "$keys" --proxies lswag,zico,swap,nwot,synflow,params --batch 64 --backend cpu \
    --data "cifar10:$DATA/cifar10/cifar10_test_1000.bin" --out "$work/ours.jsonl" > /dev/null 2>&1
  ours+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  t0=$(date +%s.%N)
  # The parts only: their .out files from earlier rounds sit beside them.
  for part in "$work"/part.[0-9][0-9]; do
    "$PY" tests/anchor/torch_probe.py --data "$DATA/cifar10/cifar10_test_1000.bin" --threads 1 "$part" \
      > "$part.out" &
  done
  wait
  theirs+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  echo "round $r: studio ${ours[-1]} s, PyTorch ${theirs[-1]} s ($(wc -l < "$keys") cells, $CORES cores)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
echo "median: studio $mo s, PyTorch $mt s: the studio at $(echo "scale=2; $mt / $mo" | bc)x PyTorch's throughput"
# The two computed the same things: Spearman of each proxy between them over the cells.
cat "$work"/part.[0-9][0-9].out | grep '"arch"' > "$work/theirs.jsonl"
python3 - "$work/ours.jsonl" "$work/theirs.jsonl" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "assets/evidence"))
from spearman import spearman
ours = {r["arch"]: r["proxies"] for r in map(json.loads, open(sys.argv[1])) if "arch" in r}
theirs = {r["arch"]: r["proxies"] for r in map(json.loads, open(sys.argv[2]))}
for p in ["lswag", "zico", "swap", "nwot", "synflow", "params"]:
    rho, n = spearman([(ours[k].get(p), theirs[k].get(p)) for k in ours if k in theirs])
    print(f"  {p}: Spearman studio vs PyTorch {rho:+.3f} (n = {n})")
PY
rm -rf "$work"
