"""The PyTorch anchor of `deno task bench`: the same Keras MNIST CNN, batch,
optimizer and data, trained and run by PyTorch on this CPU (its native
kernels, OpenBLAS/oneDNN, use the CPU's widest vectors), so that each of the
bench's figures is also a ratio to PyTorch measured in the same run.

Usage: python3 tasks/bench/bench_torch.py DATA_DIR THREADS BATCHES WARMUP [EPOCH]
Prints one line of JSON: threads, training samples/s and its projected epoch,
prediction images/s on the 10,000 test images, the versions; with EPOCH 1,
also a whole epoch's seconds (every sample once, shuffled, the last batch
short), timed as Keras and `deno task train` time theirs: its steps only.
"""
import json
import os
import re
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn


def idx(path, offset):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def model():
    # Keras's mnist_cnn.py: Conv2D(32) Conv2D(64) MaxPool Dropout(0.25)
    # Flatten Dense(128) Dropout(0.5) Dense(10) softmax (in the loss).
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def onednn_isa():
    """The instruction set oneDNN dispatches to here, from its verbose line."""
    with tempfile.TemporaryFile() as tmp:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(tmp.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(
                    torch.backends.mkldnn.VERBOSE_ON):
                torch.zeros(1, 1, 8, 8).to_mkldnn().to_dense()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    found = re.search(r"isa:([^\n]+)", text)
    return found.group(1).strip() if found else "unknown"


def build():
    """The build's own account: version, ATen's CPU capability, BLAS."""
    config = torch.__config__.show()

    def field(pattern):
        found = re.search(pattern, config)
        return found.group(1) if found else "unknown"
    blas = field(r"BLAS_INFO=([^,\s]+)")
    if blas == "generic":
        # Debian's build links libblas.so.3, whichever alternative provides it.
        target = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"
        if os.path.exists(target):
            blas = f"generic ({os.path.realpath(target)})"
    return {
        "torch": torch.__version__,
        "capability": field(r"CPU capability usage: (\S+)"),
        "onednn": field(r"MKL-DNN (v[\d.]+)"),
        "onednnIsa": onednn_isa(),
        "blas": blas,
        "openmp": field(r"OpenMP (\d+)"),
    }


def main():
    data_dir, threads, batches, warmup = sys.argv[1], *map(int, sys.argv[2:5])
    whole_epoch = len(sys.argv) > 5 and sys.argv[5] == "1"
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.from_numpy(
        idx(f"{data_dir}/train-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)
        .astype(np.float32) / 255)
    y = torch.from_numpy(
        idx(f"{data_dir}/train-labels-idx1-ubyte", 8).astype(np.int64))
    xt = torch.from_numpy(
        idx(f"{data_dir}/t10k-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)
        .astype(np.float32) / 255)
    net = model()
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    batch = 128
    order = torch.randperm(x.shape[0])

    def step(b):
        ids = order[(b * batch) % x.shape[0]:][:batch]
        opt.zero_grad()
        loss = loss_fn(net(x[ids]), y[ids])
        loss.backward()
        opt.step()

    net.train()
    for b in range(warmup):
        step(b)
    started = time.perf_counter()
    for b in range(batches):
        step(warmup + b)
    seconds = time.perf_counter() - started
    sps = batches * batch / seconds

    epoch_seconds = None
    if whole_epoch:
        shuffled = torch.randperm(x.shape[0])
        started = time.perf_counter()
        for s in range(0, x.shape[0], batch):
            ids = shuffled[s:s + batch]
            opt.zero_grad()
            loss_fn(net(x[ids]), y[ids]).backward()
            opt.step()
        epoch_seconds = time.perf_counter() - started

    net.eval()
    with torch.no_grad():
        net(xt[:256])  # warm-up
        times = []
        for _ in range(3):
            started = time.perf_counter()
            for s in range(0, xt.shape[0], 256):
                net(xt[s:s + 256]).argmax(1)
            times.append(time.perf_counter() - started)
    predict_seconds = sorted(times)[1]
    print(json.dumps({
        "threads": threads,
        "samplesPerSecond": sps,
        "projectedEpochSeconds": 60000 / sps,
        **({"epochSeconds": epoch_seconds} if epoch_seconds else {}),
        "imagesPerSecond": xt.shape[0] / predict_seconds,
        **build(),
    }))


if __name__ == "__main__":
    main()
