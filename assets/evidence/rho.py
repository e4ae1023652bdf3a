"""Spearman rho (average ranks) of a score run against a NAS-Bench-Suite-Zero file's
val_accuracy (any space: NB101, NB301, TransNAS-Bench-101), independent of the app: every proxy of the score file, the file's own proxies
on the same cells, the agreement (rho) of each shared proxy with the file's, and the L-SWAG
windows from the layer profiles (L-SWAG[a..b] = Lambda[a..b] * Psi[..b], 0 where every layer
is dead): all layers, and each single percentile p (window [p..p]).

    python3 rho.py ../../../shared/data/suite_zero/zc_transbench101_micro.json class_object SCORES.jsonl...

Several score files (shards of one run) are read as one.
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spearman import spearman  # noqa: E402


def file_value(rec, name):
    x = rec.get(name)
    x = x.get("score") if isinstance(x, dict) else x
    return None if x is None or x == -1e8 else x


zc = json.load(open(sys.argv[1]))[sys.argv[2]]
scores = {}
for path in sys.argv[3:]:
    for line in open(path):
        rec = json.loads(line)
        if "arch" in rec:
            scores[rec["arch"]] = rec
rows = [(scores[k], v) for k, v in zc.items() if k in scores]
truth = lambda v: v["val_accuracy"]["score"] if isinstance(v["val_accuracy"], dict) else v["val_accuracy"]
print(f"{sys.argv[2]}: {len(rows)} scored cells of {len(zc)}")


def window(p, a, b):
    if not p:
        return None
    return sum(p["lambda_bin"][a - 1 : b]) * p["psi_upto"][b - 1]


rho, n = spearman([(window(s.get("profile"), 1, 10), truth(v)) for s, v in rows])
print(f"L-SWAG window [1..10] (all layers): rho {rho:+.3f} (n = {n})")
per = []
for p in range(1, 11):
    rho, n = spearman([(window(s.get("profile"), p, p), truth(v)) for s, v in rows])
    per.append(rho)
print("L-SWAG single percentile p = 1..10: " + " ".join(f"{r:+.3f}" for r in per))
best = max(range(10), key=lambda i: per[i] if math.isfinite(per[i]) else -2)
print(f"best single percentile: p = {best + 1}, rho {per[best]:+.3f}")
print()
print("| proxy | n | rho(ours, val_accuracy) | rho(Suite-Zero's, val_accuracy), same cells | rho(ours, Suite-Zero's) |")
print("|---|---|---|---|---|")
names = sorted({k for s, _ in rows for k in s["proxies"]})
for name in names:
    rho, n = spearman([(s["proxies"].get(name), truth(v)) for s, v in rows])
    theirs, m = spearman([(file_value(v, name), truth(v)) for s, v in rows])
    agree, _ = spearman([(s["proxies"].get(name), file_value(v, name)) for s, v in rows])
    fmt = lambda r: "" if not math.isfinite(r) else f"{r:+.3f}"
    print(f"| {name} | {n} | {fmt(rho)} | {fmt(theirs) if m else ''} | {fmt(agree) if m else ''} |")
