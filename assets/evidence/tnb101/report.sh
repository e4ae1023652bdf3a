#!/bin/bash
# Spearman tables (rho.py, independent of the app) and LIBRA (the app's) for every score run of
# this folder: KIND_TASK_SIZEpx[_suffix].jsonl. Run from this folder: bash report.sh > rho.txt
set -e
DATA=${LSWAG_DATA:-../../../../shared/data}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
for file in $(ls micro_*.jsonl macro_*.jsonl 2>/dev/null | grep -v layer_metrics); do
  kind=${file%%_*}
  rest=${file#*_}
  task=$(echo "$rest" | sed -E 's/_[0-9]+px.*//')
  SZ=$DATA/suite_zero/zc_transbench101_$kind.json
  echo "## $file"
  echo
  python3 ../rho.py "$SZ" "$task" "$file"
  echo
  if [ -s "patterns-$file" ]; then
    echo "pattern_samples (patterns-$file, a SWAP-only run; ../patterns.py):"
    echo
    python3 ../patterns.py "$SZ" "$task" "$file" "patterns-$file"
    echo
  fi
  # LIBRA over everything: this task's Suite-Zero file joined with our scores (ours win where both
  # have a proxy), on the scored cells only.
  python3 -c "import json,sys; d=json.load(open('$SZ')); json.dump({'$task': d['$task']}, open('/tmp/tnb-$kind-$task.json','w'))"
  RUST_BACKTRACE=0 "$B" archive join "/tmp/tnb-$kind-$task.json" "$file" --scored-only --prefer right \
    --out "/tmp/tnb-$kind-$task.lswag" > /dev/null 2>&1
  RUST_BACKTRACE=0 "$B" libra "/tmp/tnb-$kind-$task.lswag" --task "$task" 2>&1 | sed -n '1,9p;/Ensemble/,/best single/p'
  echo
  rm -f "/tmp/tnb-$kind-$task.lswag" "/tmp/tnb-$kind-$task.json"
done
