#!/bin/bash
# The NB101 evidence tables from scores.jsonl and its shards scores.a/b/c.jsonl (run.sh): Spearman (../rho.py, independent of the app) of every
# proxy and of L-SWAG's windows (all layers, each single percentile) against val_accuracy, next to the
# Suite-Zero file's own proxies on the same cells and the agreement with them; LIBRA over everything
# (the file's proxies and ours, scored cells only) with the paper's Table 4 ablations (the app's); with
# xvfb-run installed, the Layers panel's screenshot of that archive (layers.png).
# Run from this folder: bash report.sh > rho.txt
set -e
DATA=${LSWAG_DATA:-../../../../shared/data}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
SZ=$DATA/suite_zero/zc_nasbench101.json
tmp=$(mktemp -d)
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['nasbench101'], open(sys.argv[2],'w'))" \
  "$SZ" "$tmp/nb101.json"
# One score file of the run: the first file's provenance, every shard's cells.
cat scores.jsonl > "$tmp/all.jsonl"
runs=scores.jsonl
for f in scores.a.jsonl scores.b.jsonl scores.c.jsonl; do
  if [ -f "$f" ]; then grep '"arch"' "$f" >> "$tmp/all.jsonl" || true; runs="$runs $f"; fi
done
echo "## Batch 64, Kaiming-normal, every proxy, patterns over the whole batch (scores.jsonl, scores.a/b/c.jsonl)"
echo
python3 ../rho.py "$tmp/nb101.json" cifar10 "$tmp/all.jsonl"
if ls scores-p16.*.jsonl > /dev/null 2>&1; then
  echo
  echo "## The same, patterns of the first 16 samples (the studio's default; scores-p16.a/b.jsonl)"
  echo
  python3 ../rho.py "$tmp/nb101.json" cifar10 scores-p16.*.jsonl
fi
if [ -s patterns.jsonl ]; then
  echo
  echo "## Pattern samples 16, 32, 64 on the same cells (patterns.jsonl, a SWAP-only run; ../patterns.py)"
  echo
  python3 ../patterns.py "$tmp/nb101.json" cifar10 "$runs" patterns.jsonl
fi
echo
echo "## LIBRA over everything (the file's proxies and ours, scored cells only)"
echo
RUST_BACKTRACE=0 "$B" archive join "$SZ" "$tmp/all.jsonl" --scored-only --prefer right --out "$tmp/nb101.lswag" \
  > /dev/null 2>&1
RUST_BACKTRACE=0 "$B" libra "$tmp/nb101.lswag" --task cifar10 --ablations 2>&1 | grep -v '^backend'
bash ../layers-screenshot.sh "$B" "$tmp/nb101.lswag" layers.png
rm -rf "$tmp"
