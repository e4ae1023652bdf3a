"""Spearman rho (average ranks) of the studio's scores against Suite-Zero's
val_accuracy, independent of the app: the all-layers L-SWAG window from
the layer profiles (Lambda[1..10] * Psi[..10], 0 on a cell whose every
layer is dead, as the Layers panel counts it), every proxy column of
scores.jsonl, and the agreement (rho) of each shared proxy with the file's.

    python3 rho.py ../../../../shared/data/suite_zero/zc_nasbench201.json scores.jsonl
"""
import json
import math
import sys


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb)


def spearman(pairs):
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    xs, ys = zip(*pairs)
    return pearson(ranks(list(xs)), ranks(list(ys))), len(pairs)


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
