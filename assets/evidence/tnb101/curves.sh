#!/bin/bash
# The gradient-intensity curves of every task with at least MIN scored cells (paper Fig. 9 c-g), from
# the score runs of this folder joined with the task's Suite-Zero truth: curves/KIND_TASK.svg (vector)
# and .png with the window shaded at its best in-sample rho, curves/windows.txt (the app's `windows`:
# per-bin and per-window Spearman, the cross-validated window choice) and curves/README.md (the table
# and the figures, written from `windows --json`). No probe runs; seconds in all.
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
  size=$(echo "$rest" | sed -E 's/.*_([0-9]+)px.*/\1/')
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump({sys.argv[2]: d[sys.argv[2]]}, open(sys.argv[3],'w'))" \
    "$DATA/suite_zero/zc_transbench101_$kind.json" "$task" "$tmp/truth.json"
  "$B" archive join "$tmp/truth.json" "$file" --scored-only --prefer right --out "$tmp/joined.lswag" > /dev/null
  title="TNB-101 $kind, $task: Λ_l per depth bin ($cells cells, $size px)"
  for out in "curves/${kind}_$task.svg" "curves/${kind}_$task.png --dpi 120"; do
    # shellcheck disable=SC2086 # the PNG's entry carries its resolution option
    "$B" figure curves "$tmp/joined.lswag" --task "$task" --width-mm 120 --height-mm 75 --title "$title" \
      --out $out 2> /dev/null
  done
  { echo "## $kind $task ($file, $cells cells)"; echo; "$B" windows "$tmp/joined.lswag" --task "$task"; echo; } \
    >> curves/windows.txt
  "$B" windows "$tmp/joined.lswag" --task "$task" --json > "$tmp/$kind-$task-$size-$cells.json"
done
python3 - "$tmp" > curves/README.md <<'PY'
import json, os, sys
d = sys.argv[1]
runs = []
for f in sorted(os.listdir(d)):
    if f.endswith(".json") and f != "truth.json":
        kind, task, size, cells = f[:-5].split("-")
        runs.append((kind, task, int(size), int(cells), json.load(open(os.path.join(d, f)))))
runs.sort(key=lambda r: (r[0] != "micro", r[1]))
print("# Gradient-intensity curves per task (paper Fig. 9 c-g)\n")
print("Written by `bash curves.sh` from the score runs of the folder above (every proxy, batch 32, CIFAR-10")
print("images; micro at 64 px, macro at 128, jigsaw at 192) joined with Suite-Zero's `val_accuracy`: per task,")
print("the mean of Lambda_l over each depth bin's layers, mean and +-1 std across the cells, with the window")
print("of highest in-sample Spearman rho shaded. Held out: the window chosen on a random half of the cells,")
print("rho on the other half, 20 splits (`windows`; `windows.txt` has every bin and window).\n")
print("| task | cells | side | peak bin of the mean curve | all layers [1, 10] rho | best window (in-sample rho) | held-out rho of the chosen window | most chosen |")
print("|---|---|---|---|---|---|---|---|")
for kind, task, size, cells, j in runs:
    bins = [b for b in j["intensity"]["bins"] if b.get("mean") is not None]
    peak = max(bins, key=lambda b: b["mean"])["bin"]
    grid = {(w["a"], w["b"]): w["rho"]["value"] for w in j["grid"]["windows"] if w["rho"] and w["rho"].get("value") is not None}
    best = j["best"]
    cv = j["cv"]
    top = cv["choices"][0]
    print(f"| {kind} {task} | {cells} | {size} | {peak} | {grid[(1, 10)]:.3f} | [{best['a']}, {best['b']}] ({best['rho']['value']:.3f}) "
          f"| {cv['report_mean']:.3f} +- {cv['report_std']:.3f} | [{top['a']}, {top['b']}] ({top['count']}/{cv['settings']['repeats']}) |")
print()
for i in range(0, len(runs), 2):
    pair = runs[i:i + 2]
    print("| " + " | ".join(f"{k} {t}" for k, t, *_ in pair) + " |")
    print("|" + "---|" * len(pair))
    print("| " + " | ".join(f"![{k} {t}]({k}_{t}.png)" for k, t, *_ in pair) + " |")
    print()
PY
