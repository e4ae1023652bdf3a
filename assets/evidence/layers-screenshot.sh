#!/bin/bash
# The Layers panel of ARCHIVE saved as OUT (PNG) by the studio binary B, on a plain X server (xvfb-run) with
# a throwaway HOME so no saved app state leaks in. Does nothing where xvfb-run is missing.
#   bash layers-screenshot.sh B ARCHIVE OUT
B=$1 archive=$2 out=$3
command -v xvfb-run > /dev/null || exit 0
home=$(mktemp -d)
HOME=$home XDG_RUNTIME_DIR=$home timeout 300 xvfb-run -a -s "-screen 0 1600x1000x24" "$B" "$archive" \
  --panel layers --screenshot "$out" > /dev/null 2>&1
rm -rf "$home"
