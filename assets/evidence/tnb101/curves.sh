#!/bin/bash
# The gradient-intensity curves of every task with at least MIN scored cells (paper Fig. 9 c-g), from
# the score runs of this folder joined with the task's Suite-Zero truth: curves/KIND_TASK.svg (vector)
# and .png, the window shaded at its best in-sample rho, and curves/windows.txt (the app's `windows`:
# per-bin and per-window Spearman, the cross-validated window choice). No probe runs; seconds in all.
# Run from this folder: bash curves.sh
set -e
export RUST_BACKTRACE=0
DATA=${LSWAG_DATA:-../../../../shared/data}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
MIN=${MIN:-30}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > curves/windows.txt
for file in $(ls micro_*_source.jsonl macro_*_source.jsonl); do
  cells=$(($(wc -l < "$file") - 1))
  [ "$cells" -ge "$MIN" ] || continue
  kind=${file%%_*}
  rest=${file#*_}
  task=$(echo "$rest" | sed -E 's/_[0-9]+px.*//')
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump({sys.argv[2]: d[sys.argv[2]]}, open(sys.argv[3],'w'))" \
    "$DATA/suite_zero/zc_transbench101_$kind.json" "$task" "$tmp/truth.json"
  "$B" archive join "$tmp/truth.json" "$file" --scored-only --prefer right --out "$tmp/joined.lswag" > /dev/null
  size=$(echo "$rest" | sed -E 's/.*_([0-9]+px).*/\1/; s/px/ px/')
  title="TNB-101 $kind, $task: Λ_l per depth bin ($cells cells, $size)"
  for out in "curves/${kind}_$task.svg" "curves/${kind}_$task.png --dpi 120"; do
    # shellcheck disable=SC2086 # the PNG's entry carries its resolution option
    "$B" figure curves "$tmp/joined.lswag" --task "$task" --width-mm 120 --height-mm 75 --title "$title" \
      --out $out 2> /dev/null
  done
  { echo "## $kind $task ($file, $cells cells)"; echo; "$B" windows "$tmp/joined.lswag" --task "$task"; echo; } \
    >> curves/windows.txt
done
