"""SPEC's pattern-samples ablation (16, 32, 64 samples) from a full run's layer profiles and one SWAP-only
run with patterns over the whole batch, independent of the app. The SWAP-only run's lines carry
`psi_upto_by_samples` (Psi[..p], p = 1..10, from the patterns of the first K samples: a K-sample pattern
is the low K bits of the 64-sample one); Lambda does not depend on K, so
L-SWAG[a..b] at K = sum(lambda_bin[a..b]) of the full run x Psi[..b] at K.
Prints Spearman rho against the Suite-Zero file's val_accuracy on the cells both runs have: L-SWAG over
all layers, each single percentile, SWAP.

    python3 patterns.py SUITE_ZERO.json TASK "MAIN.jsonl [MAIN2.jsonl]" PATTERNS.jsonl
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
main = {r["arch"]: r for path in sys.argv[3].split() for r in lines(path) if r.get("profile")}
# The main run's own pattern samples: its setting, or the whole batch (null), at most 64 (one u64).
config = json.loads(open(sys.argv[3].split()[0]).readline())["provenance"]["config"]
own = min(config["probe"]["pattern_samples"] or config["batch"], config["batch"], 64)
psi = {r["arch"]: {int(k): v for k, v in r.get("psi_upto_by_samples", {}).items()} for r in lines(sys.argv[4])}
cells = [k for k in main if k in truth and psi.get(k)]
# Both runs saw the same network and images: at the main run's own setting the SWAP-only run's counts
# equal the main profile's, bin by bin, up to the few ReLU inputs within rounding of zero whose sign
# another kernel's summation order flips (cells the main run scored on earlier kernels).
ks = sorted({K for k in cells for K in psi[k]})
assert all(own in psi[k] for k in cells), f"the SWAP-only run has no Psi at the main run's {own} samples"
exact = sum(psi[k][own] == main[k]["profile"]["psi_upto"] for k in cells)
pairs = [(a, b) for k in cells for a, b in zip(main[k]["profile"]["psi_upto"], psi[k][own])]
most = max((abs(a - b) for a, b in pairs), default=0)
worst = max((abs(a - b) / max(a, 1) for a, b in pairs), default=0.0)
print(f"{len(cells)} cells in both runs; Psi[..p] at {own} samples (the main run's) equal to the main run's on")
print(f"{exact} of them; the others differ by at most {most} patterns ({worst:.1e} relative)")
# A handful of flips, whatever the count: a real mismatch (other images, another network) moves thousands.
assert most <= 10 and worst <= 1e-4, "the SWAP-only run does not match the main run's patterns"

def window(k, K, a, b):
    return sum(main[k]["profile"]["lambda_bin"][a - 1 : b]) * psi[k][K][b - 1]


fmt = lambda r: f"{r:+.3f}" if math.isfinite(r) else "-"
print()
print("| pattern samples | n | L-SWAG all layers | best single percentile | SWAP | single percentile p = 1..10 |")
print("|---|---|---|---|---|---|")
for K in ks:
    rows = [k for k in cells if K in psi[k]]
    all_layers, n = spearman([(window(k, K, 1, 10), truth[k]) for k in rows])
    per = [spearman([(window(k, K, p, p), truth[k]) for k in rows])[0] for p in range(1, 11)]
    best = max(range(10), key=lambda i: per[i] if math.isfinite(per[i]) else -2)
    swap, _ = spearman([(psi[k][K][9], truth[k]) for k in rows])
    print(
        f"| {K} | {n} | {fmt(all_layers)} | p = {best + 1}: {fmt(per[best])} | {fmt(swap)} | "
        + " ".join(fmt(r) for r in per)
        + " |"
    )
