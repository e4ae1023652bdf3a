#!/bin/bash
# Every proxy on the first N cells (file order) of each TransNAS-Bench-101 task that has no full run
# yet, one task after another, one probe at a time, niced: a background evidence queue. Resumable:
# re-running skips the cells already in each file, and a finished task is passed over in seconds.
# Micro at 64 px, macro at 128 px (four stride-2 macro layers end at 1x1 at 64 px), jigsaw at 192 px
# (its 3 x 3 tiles of 64); batch 32, the builder's init, CIFAR-10 test images resized (substitutes
# for Taskonomy's: see README.md), patterns of the whole batch (`--pattern-samples 32`, as the two full
# class_* runs had before 16 became the default). Run from this folder:
#   N=200 nohup bash queue.sh > queue.log 2>&1 &
# A second instance started beside it works on the next task: a task whose output another process is
# writing fails at once on its lock (rc 1 in the log) and the instance moves on.
set -u
N=${N:-200}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
DATA=${LSWAG_DATA:-../../../../shared/data}
source "$(dirname "$0")/common.sh"
# ENTRIES (KIND:TASK:SIZE ...) replaces the list, e.g. a first reading of the tasks not yet started:
#   N=50 ENTRIES="micro:jigsaw:192 macro:normal:128" nohup bash queue.sh >> queue.log 2>&1 &
ENTRIES=${ENTRIES:-"micro:room_layout:64 micro:segmentsemantic:64 micro:autoencoder:64 micro:normal:64
  macro:class_object:128 macro:class_scene:128 macro:room_layout:128 macro:segmentsemantic:128
  macro:autoencoder:128 macro:normal:128 micro:jigsaw:192 macro:jigsaw:192"}
for entry in $ENTRIES; do
  IFS=: read -r kind task size <<< "$entry"
  keys=$(mktemp)
  task_keys "$kind" "$task" > "$keys"
  out=${kind}_${task}_${size}px_source
  echo "== $(date -u +%FT%TZ) $out"
  score_cells "$kind" "$task" "$size" "$keys" "$out"
  echo "   rc $? at $(date -u +%FT%TZ): $(cells "$out.jsonl") cells in $out.jsonl"
  rm -f "$keys"
done
