"""Spearman rho (average ranks) of the studio's scores against Suite-Zero's
val_accuracy, independent of the app: the all-layers L-SWAG window from
the layer profiles (Lambda[1..10] * Psi[..10], 0 on a cell whose every
layer is dead, as the Layers panel counts it), every proxy column of
scores.jsonl, and the agreement (rho) of each shared proxy with the file's.

    python3 rho.py ../../../../shared/data/suite_zero/zc_nasbench201.json scores.jsonl
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from spearman import spearman  # noqa: E402


def naslib_to_str(key):
    # NASLib op order: 0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3
    ops = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
    t = [ops[int(v)] for v in key.strip("()").split(",")]
    return f"|{t[0]}~0|+|{t[1]}~0|{t[3]}~1|+|{t[2]}~0|{t[4]}~1|{t[5]}~2|"


zc = json.load(open(sys.argv[1]))
scores = {}
for line in open(sys.argv[2]):
    rec = json.loads(line)
    if "arch" in rec:
        scores[rec["arch"]] = rec

for task in ["cifar10", "cifar100", "ImageNet16-120"]:
    rows = [(scores.get(naslib_to_str(k)), v) for k, v in zc[task].items()]
    rows = [(s, v) for s, v in rows if s is not None]
    window = []
    for s, v in rows:
        p = s.get("profile")
        w = sum(p["lambda_bin"]) * p["psi_upto"][-1] if p else None
        window.append((w, v["val_accuracy"]))
    rho, n = spearman(window)
    print(f"{task}: {len(rows)} scored cells; all-layers L-SWAG window rho {rho:.4f} (n = {n})")
    names = sorted({k for s, _ in rows for k in s["proxies"]})
    for name in names:
        rho, n = spearman([(s["proxies"].get(name), v["val_accuracy"]) for s, v in rows])
        line = f"  {name:10s} rho {rho:+.4f} (n = {n})"
        if name in zc[task][next(iter(zc[task]))] and task == "cifar10":

            def file_value(v):
                x = v.get(name, {}).get("score")
                return None if x is None or x == -1e8 else x

            agree, m = spearman([(s["proxies"].get(name), file_value(v)) for s, v in rows])
            line += f"; agreement with the file's {name}: rho {agree:+.4f} (n = {m})"
        print(line)
