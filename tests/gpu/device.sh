#!/bin/bash
# The GPU check of issue #17 on the device machine (prepare with tests/gpu/pack.sh): the GPU's name and
# memory; with the app carried, the wgpu backend measured by `bench` on NB201 (batch 64, 32 x 32) and
# on AutoFormer-Small ViTs at 224 x 224, peak host and GPU memory each, and the CPU backend of that
# machine for scale; with the golden test carried, that test on wgpu (the PyTorch reference's values on
# one network). The two binaries together exceed what one call carries (64 MiB with the tree), so it
# takes two calls back to back, the machine still warm:
#   command: bash tests/gpu/device.sh  carry: [".gl", ".gpu/lswag-studio.xz"]
#   command: bash tests/gpu/device.sh  carry: [".gl", ".gpu/golden", ".gpu/data", ".gpu/golden-test.xz"]
# Everything printed also lands in $OUT/gpu.log. A dry run here on lavapipe (slow):
#   ARCHS=1 VIT_SIZE=32 OUT=/tmp/gpu-out bash tests/gpu/device.sh
set -u
ARCHS=${ARCHS:-5}
VIT_SIZE=${VIT_SIZE:-224}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
if ! ldconfig -p | grep -q libvulkan; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -e "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
mkdir -p /tmp/gpu
for f in .gpu/*.xz; do
  [ -e "$f" ] && xz -dc "$f" > "/tmp/gpu/$(basename "$f" .xz)" && chmod +x "/tmp/gpu/$(basename "$f" .xz)"
done
B=/tmp/gpu/lswag-studio
# Each step: its output, wall time, peak host memory, and the GPU memory in use at its peak
# (nvidia-smi sampled every 200 ms).
step() {
  echo "== $*"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > /tmp/gpu/mem.txt 2>/dev/null &
  local sampler=$!
  /usr/bin/time -f "   wall %e s, peak host RSS %M KB" timeout "${STEP_S:-150}" "$@" 2>&1 | grep -v '^\['
  echo "   rc ${PIPESTATUS[0]}"
  kill $sampler 2>/dev/null
  wait $sampler 2>/dev/null
  echo "   peak GPU memory in use: $(sort -n /tmp/gpu/mem.txt | tail -1) MiB"
}
if [ -x $B ]; then
  # The first bench includes kernel compilation, the second shows the warm cost.
  step "$B" bench --backend wgpu --archs "$ARCHS" --batch 64
  step "$B" bench --backend wgpu --archs "$ARCHS" --batch 64
  step "$B" bench --backend cpu --archs "$ARCHS" --batch 64
  step "$B" bench --backend wgpu --space autoformer --image-size "$VIT_SIZE" --archs "$ARCHS" --batch 64
fi
if [ -x /tmp/gpu/golden-test ]; then
  # golden_dir() is LSWAG_DATA/../golden; the batch is LSWAG_DATA/cifar10's.
  step env LSWAG_DATA=.gpu/data LSWAG_REQUIRE_DATA=1 LSWAG_REQUIRE_WGPU=1 /tmp/gpu/golden-test --test-threads 1
fi
