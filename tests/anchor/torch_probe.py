"""The PyTorch anchor of `lswag-studio bench`: the same proxies on the same NB201 cells, written
independently of the studio from SPEC.md and NB201's own builder, so that the studio's speed can be
measured side by side with PyTorch's on one machine (tests/anchor/compare.sh).

Proxies: lswag (all layers), zico, swap, nwot, synflow, params. One network at a time, batch 64 of the
shared CIFAR-10 images at 32 x 32, NB201 C = 16, N = 5, Kaiming-normal init (fan-in, seeded per cell).

    python torch_probe.py --data ../../../shared/data/cifar10/cifar10_test_1000.bin KEYS.txt [--threads 1]

Prints one JSON line per cell (values and seconds) and a final line with the total. Needs torch (any
recent CPU or CUDA wheel; runs on the CPU).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.247, 0.2435, 0.2616]).view(1, 3, 1, 1)


class Norm(nn.Module):
    """BatchNorm over whatever batch it sees (train mode, no running statistics), or nothing (synflow)."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c, track_running_stats=False)
        self.off = False

    def forward(self, x):
        return x if self.off else self.bn(x)


class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.norm = Norm(cout)

    def forward(self, x):
        return self.norm(self.conv(self.relu(x)))


class Cell(nn.Module):
    """NB201's InferCell: node i = sum over j < i of op_ji(node j); the output is node 3."""

    def __init__(self, arch, c):
        super().__init__()
        self.edges = nn.ModuleList()
        self.kinds = []
        for op in arch:
            self.kinds.append(op)
            if op == "nor_conv_1x1":
                self.edges.append(ReLUConvBN(c, c, 1, 1))
            elif op == "nor_conv_3x3":
                self.edges.append(ReLUConvBN(c, c, 3, 1))
            else:
                self.edges.append(nn.Identity())

    def forward(self, x):
        nodes = [x]
        e = 0
        for i in range(1, 4):
            total = 0
            for j in range(i):
                kind, op = self.kinds[e], self.edges[e]
                e += 1
                if kind == "none":
                    continue
                if kind == "avg_pool_3x3":
                    total = total + F.avg_pool2d(nodes[j], 3, 1, 1, count_include_pad=False)
                else:
                    total = total + op(nodes[j])
            nodes.append(total if torch.is_tensor(total) else torch.zeros_like(x))
        return nodes[3]


class Reduction(nn.Module):
    """NB201's ResNetBasicblock at stride 2 with an AvgPool + 1x1 conv shortcut."""

    def __init__(self, cin, cout):
        super().__init__()
        self.a = ReLUConvBN(cin, cout, 3, 2)
        self.b = ReLUConvBN(cout, cout, 3, 1)
        self.down = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.b(self.a(x)) + self.down(F.avg_pool2d(x, 2, 2))


class Net(nn.Module):
    def __init__(self, arch, c=16, n=5, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, 1, 1, bias=False)
        self.stem_norm = Norm(c)
        blocks = []
        for stage in range(3):
            if stage:
                blocks.append(Reduction(c, 2 * c))
                c *= 2
            blocks += [Cell(arch, c) for _ in range(n)]
        self.blocks = nn.Sequential(*blocks)
        self.last_norm = Norm(c)
        self.last_relu = nn.ReLU()
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        x = self.blocks(self.stem_norm(self.stem(x)))
        x = self.last_relu(self.last_norm(x))
        return self.head(x.mean((2, 3)))


def parse(key):
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> 6 op names in edge order."""
    return [tok.split("~")[0] for part in key.strip().split("+") for tok in part.strip("|").split("|")]


def load_cifar(path, n):
    raw = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.uint8).view(-1, 3073)[:n]
    labels = raw[:, 0].long()
    x = raw[:, 1:].float().view(n, 3, 32, 32) / 255.0
    return (x - MEAN) / STD, labels


def weight_layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def init(net, seed):
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0, math.sqrt(2.0 / fan_in), generator=g)
                if m.bias is not None:
                    m.bias.zero_()


def relu_inputs(net, x):
    """Binary codes (input > 0) of every ReLU's input, one [S, N] tensor per ReLU."""
    codes = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).flatten(1))) for m in net.modules()
             if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return codes


def distinct_patterns(codes):
    """Distinct per-neuron patterns over the S samples (a neuron's S bits as one int64)."""
    s = codes[0].shape[0]
    weights = torch.tensor([1 << i if i < 63 else -(1 << 63) for i in range(s)], dtype=torch.int64)
    keys = torch.cat([(c.T.long() * weights).sum(1) for c in codes])
    return torch.unique(keys).numel()


def nwot(codes):
    c = torch.cat(codes, 1).double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    return torch.linalg.slogdet(k)[1].item()


def lswag_lambda(net, x, y):
    """sum_l log sum_w 1 / std_s |dLoss_s / dw| over the per-sample gradients (BatchNorm per sample)."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p, xs, ys):
        return F.cross_entropy(functional_call(net, p, (xs.unsqueeze(0),)), ys.unsqueeze(0))

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    names = {id(m.weight): n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    total = 0.0
    for pname, p in net.named_parameters():
        if id(p) not in names:
            continue
        sigma = grads[pname].abs().double().std(0, unbiased=False)
        live = sigma[sigma > 0]
        if live.numel():
            total += torch.log((1.0 / live).sum()).item()
    return total


def zico(net, x, y):
    half = x.shape[0] // 2
    per_split = []
    for part in (slice(0, half), slice(half, None)):
        net.zero_grad()
        F.cross_entropy(net(x[part]), y[part]).backward()
        # A layer cut off from the output (a cell whose edges skip it) gets no gradient: zeros.
        per_split.append([torch.zeros_like(m.weight) if m.weight.grad is None else m.weight.grad.detach().clone()
                          for m in weight_layers(net)])
    score = 0.0
    for g in zip(*per_split):
        g = torch.stack(g)
        std = g.std(0, unbiased=False)
        nz = std != 0
        s = (g.abs().mean(0)[nz] / std[nz]).sum().item()
        if s != 0:
            score += math.log(s)
    return score


def synflow(net):
    for m in net.modules():
        if isinstance(m, Norm):
            m.off = True
    net = net.double()
    signs = {}
    with torch.no_grad():
        for n, p in net.state_dict().items():
            signs[n] = torch.sign(p)
            p.abs_()
    net.zero_grad()
    net(torch.ones(1, 3, 32, 32, dtype=torch.float64)).sum().backward()
    score = sum((m.weight * m.weight.grad).abs().sum().item() for m in weight_layers(net) if m.weight.grad is not None)
    return math.log(score) if score > 0 else float("nan")


def probe(key, x, y, seed):
    net = Net(parse(key))
    init(net, seed)
    codes = relu_inputs(net, x)
    psi = distinct_patterns(codes)
    lam = lswag_lambda(net, x, y)
    out = {
        "lswag": lam * psi,
        "swap": psi,
        "nwot": nwot(codes),
        "zico": zico(net, x, y),
        "params": sum(p.numel() for p in net.parameters()) / 1e6,
    }
    out["synflow"] = synflow(net)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keys")
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = load_cifar(a.data, a.batch)
    keys = [k.strip() for k in open(a.keys) if k.strip()]
    t0 = time.perf_counter()
    for i, key in enumerate(keys):
        t = time.perf_counter()
        values = probe(key, x, y, i)
        print(json.dumps({"arch": key, "proxies": values, "seconds": time.perf_counter() - t}), flush=True)
    print(json.dumps({"cells": len(keys), "seconds": time.perf_counter() - t0, "threads": a.threads}), flush=True)


if __name__ == "__main__":
    main()
