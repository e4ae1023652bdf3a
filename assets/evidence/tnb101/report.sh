#!/bin/bash
# Spearman tables (rho.py, independent of the app) and LIBRA (the app's) for the score runs of
# this folder. Run from this folder: bash report.sh > rho.txt
set -e
SZ=${LSWAG_DATA:-../../../../shared/data}/suite_zero/zc_transbench101_micro.json
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
for run in class_object:micro_class_object_64px_source class_scene:micro_class_scene_64px_source \
           class_object:micro_class_object_64px; do
  task=${run%%:*}; file=${run#*:}.jsonl
  echo "## $file"
  echo
  python3 rho.py "$SZ" "$task" "$file"
  echo
  # LIBRA over everything: this task's Suite-Zero file joined with our scores (ours win where both
  # have a proxy), on the scored cells only.
  python3 -c "import json,sys; d=json.load(open('$SZ')); json.dump({'$task': d['$task']}, open('/tmp/tnb-$task.json','w'))"
  RUST_BACKTRACE=0 "$B" archive join "/tmp/tnb-$task.json" "$file" --scored-only --prefer right \
    --out "/tmp/tnb-$task.lswag" > /dev/null 2>&1
  RUST_BACKTRACE=0 "$B" libra "/tmp/tnb-$task.lswag" --task "$task" 2>&1 | sed -n '1,9p;/Ensemble/,/best single/p'
  echo
done
