#!/bin/bash
# Prepares the GPU check (issue #17) for the `device` tool: the machine there has no Rust toolchain and
# no network, so the app and the golden test travel as stripped, compressed debug builds in .gpu/ (with
# the golden case), and the Vulkan loader's Debian packages in .gl/ (both ignored by git; the device
# tool's README says why the loader may be missing). Run here from the repository root, after
# `cargo build` and `cargo test --no-run`; then call the device tool with
#   (two calls: see tests/gpu/device.sh)
set -eu
DATA=${LSWAG_DATA:-../shared/data}
grep -qx '/.gpu/' .git/info/exclude || echo /.gpu/ >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude || echo /.gl/ >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/golden .gpu/data/cifar10
cp "$DATA"/../golden/* .gpu/golden/
# The golden batch's images.
cp "$DATA"/cifar10/cifar10_test_1000.bin .gpu/data/cifar10/
# The newest golden test binary cargo built (cargo names it golden-<hash>).
golden=$(ls -t target/debug/deps/golden-* | grep -v '\.d$' | head -1)
for pair in "target/debug/lswag-studio:lswag-studio" "$golden:golden-test"; do
  strip -o ".gpu/${pair#*:}" "${pair%%:*}"
  xz -T0 -6 ".gpu/${pair#*:}"
done
if [ ! -s .gl/libvulkan1_*.deb ] 2>/dev/null; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update > /dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu .gl
