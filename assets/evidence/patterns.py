"""pattern_samples K against the default (the whole batch) from a full run's layer profiles and SWAP-only
runs at each K, independent of the app: L-SWAG over all layers = (sum of lambda_bin) x Psi[..10], with
Psi[..10] = SWAP at that K (Lambda does not depend on K). Prints Spearman rho against the Suite-Zero
file's val_accuracy on the cells every run has.

    python3 patterns.py SUITE_ZERO.json TASK "MAIN.jsonl [MAIN2.jsonl]" 16:P16.jsonl 32:P32.jsonl
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spearman import spearman  # noqa: E402


def lines(path):
    for line in open(path):
        rec = json.loads(line)
        if "arch" in rec:
            yield rec


zc = json.load(open(sys.argv[1]))[sys.argv[2]]
truth = {k: (v["val_accuracy"]["score"] if isinstance(v["val_accuracy"], dict) else v["val_accuracy"]) for k, v in zc.items()}
main = {r["arch"]: r for path in sys.argv[3].split() for r in lines(path)}
runs = {64: {k: r["proxies"].get("swap") for k, r in main.items()}}
for arg in sys.argv[4:]:
    k, path = arg.split(":")
    runs[int(k)] = {r["arch"]: r["proxies"].get("swap") for r in lines(path)}
cells = [k for k in main if k in truth and all(k in run for run in runs.values()) and main[k].get("profile")]
# The main run's SWAP is its profile's Psi[..10]: the combination below relies on it.
for k in cells:
    p = main[k]["profile"]
    assert runs[64][k] is None or abs(runs[64][k] - p["psi_upto"][9]) <= 1e-9 * max(1.0, abs(runs[64][k])), k
print(f"{len(cells)} cells scored by every run")
print("| pattern samples | L-SWAG all layers | SWAP |")
print("|---|---|---|")
for K in sorted(runs):
    lam = {k: sum(main[k]["profile"]["lambda_bin"]) for k in cells}
    lswag = [(lam[k] * runs[K][k] if runs[K][k] is not None else None, truth[k]) for k in cells]
    swap = [(runs[K][k], truth[k]) for k in cells]
    (r1, n1), (r2, n2) = spearman(lswag), spearman(swap)
    fmt = lambda r, n: f"{r:+.3f} (n = {n})" if math.isfinite(r) else "-"
    print(f"| {K} | {fmt(r1, n1)} | {fmt(r2, n2)} |")
