"""PyTorch CPU peer for scripts/bench/cpu_throughput.sh: the same models, optimizer and batches as
joule's example configs, trained for a fixed number of steps on Fashion-MNIST; prints one JSON line.

  python3 torch_cpu_throughput.py --model mlp|cnn --batch N --steps S [--threads 2] [--data DIR] [--bf16]

--bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN's bf16 kernels
for Linear and Conv2d; f32 weights, gradients and optimizer), the peer of joule's train.precision "bf16".

Verifies its own result: the mean loss of the last 10% of steps must be below that of the first 10%.
"""
import argparse, gzip, json, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def make_model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', dtype=torch.bfloat16)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.tensor(read_idx(f"{a.data}/train-images-idx3-ubyte.gz"), dtype=torch.float32)
    x = x.div_(255).sub_(0.2860).div_(0.3530).unsqueeze(1)
    y = torch.tensor(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
    model = make_model(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    perm = torch.randperm(len(x))
    per_epoch = len(x) // a.batch

    def step(i):
        j = perm[(i % per_epoch) * a.batch:(i % per_epoch + 1) * a.batch]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.cross_entropy(model(x[j]), y[j])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(5):  # warm-up (allocator, oneDNN primitive caches)
        step(i)
    losses = []
    t0 = time.perf_counter()
    for i in range(a.steps):
        losses.append(step(i + 5))
    seconds = time.perf_counter() - t0
    k = max(1, a.steps // 10)
    ok = sum(losses[-k:]) / k < sum(losses[:k]) / k
    print(json.dumps(dict(peer="pytorch", torch=torch.__version__, model=a.model, batch=a.batch, threads=a.threads,
                          precision="bf16" if a.bf16 else "f32",
                          steps=a.steps, seconds=round(seconds, 3), samples_per_s=round(a.steps * a.batch / seconds, 1),
                          first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4), verified=ok)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
