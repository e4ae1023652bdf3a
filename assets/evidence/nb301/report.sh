#!/bin/bash
# The NB301 evidence tables from the score runs of this folder: Spearman (../rho.py, independent of the
# app) of every proxy and of L-SWAG's windows against val_accuracy, next to the Suite-Zero file's own
# proxies; the agreement with the file's values under its conventions (suite-zero-conventions.jsonl:
# 32 images, PyTorch's default init); LIBRA over everything with the paper's Table 4 ablations (the
# app's); pattern_samples (../patterns.py). With xvfb-run installed, also the Layers panel's screenshot
# (layers.png). Run from this folder: bash report.sh > rho.txt
set -e
DATA=${LSWAG_DATA:-../../../../shared/data}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
SZ=$DATA/suite_zero/zc_nasbench301.json
echo "## Paper conventions: batch 64, Kaiming-normal (scores.0.jsonl, scores.1.jsonl)"
echo
python3 ../rho.py "$SZ" cifar10 scores.0.jsonl scores.1.jsonl
echo
if [ -s suite-zero-conventions.jsonl ]; then
  echo "## Suite-Zero's conventions: batch 32, PyTorch's default init (suite-zero-conventions.jsonl)"
  echo
  python3 ../rho.py "$SZ" cifar10 suite-zero-conventions.jsonl
  echo
fi
echo "## LIBRA over everything (the file's proxies and ours, scored cells only)"
echo
tmp=$(mktemp -d)
lswag=$tmp/nb301-suite-zero-and-ours.lswag
RUST_BACKTRACE=0 "$B" archive join "$SZ" scores.0.jsonl scores.1.jsonl --scored-only --prefer right --out "$lswag" \
  > /dev/null 2>&1
RUST_BACKTRACE=0 "$B" libra "$lswag" --task cifar10 --ablations 2>&1 | grep -v '^backend'
echo
if [ -s patterns.jsonl ]; then
  echo "## pattern_samples"
  echo
  python3 ../patterns.py "$SZ" cifar10 "scores.0.jsonl scores.1.jsonl" patterns.jsonl
fi
bash ../layers-screenshot.sh "$B" "$lswag" layers.png
rm -rf "$tmp"
