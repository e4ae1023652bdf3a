#!/bin/bash
# L-SWAG probe cost per TransNAS-Bench-101 task: seconds per cell and peak memory at batch 32,
# the benchmark's init, one sampled cell after a warm-up one (bench's default sampler, seed 0).
# Run from the repository root: bash assets/evidence/tnb101/bench.sh > assets/evidence/tnb101/bench.txt
B=${LSWAG_BIN:-target/debug/lswag-studio}
for space_sizes in "tnb101-micro 64 256" "tnb101-macro 128 256"; do
  set -- $space_sizes
  space=$1; shift
  for size in "$@"; do
    for task in class_object class_scene room_layout jigsaw segmentsemantic autoencoder normal; do
      s=$size; [ $task = jigsaw ] && s=$([ $size -le 128 ] && echo 192 || echo 255)
      echo "== $space $task ${s}px"
      RUST_BACKTRACE=0 RAYON_NUM_THREADS=1 "$B" bench --space $space --task $task --image-size $s \
        --batch 32 --archs 1 --proxies lswag 2>&1 | grep -E "median|phases|peak|rror"
    done
  done
done
