"""PyTorch's figure for the tutorial's CNN (Keras's mnist_cnn.py: two 3×3
convolutions, max pooling, dropout 0.25, dense 128, dropout 0.5, softmax;
Keras's Adadelta: learning rate 1.0, rho 0.95, epsilon 1e-7; batch 128),
trained on an IDX data set (plain or gzipped files), printing the test
accuracy after each epoch as JSON lines. For the augmentation table of
`deno task bench-augment` (docs/augment.md).

Usage: augment_torch.py DATA_DIR EPOCHS [THREADS] [SEED]
"""
import gzip
import json
import os
import sys
import time

import numpy
import torch
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=4 + 4 * ndims).reshape(dims)


def load(data_dir, prefix):
    def find(name):
        for candidate in (name, name + ".gz"):
            if os.path.exists(os.path.join(data_dir, candidate)):
                return os.path.join(data_dir, candidate)
        raise SystemExit(f"{data_dir}: no {name} (or .gz)")
    x = read_idx(find(f"{prefix}-images-idx3-ubyte")).astype(numpy.float32) / 255
    y = read_idx(find(f"{prefix}-labels-idx1-ubyte")).astype(numpy.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def main():
    data_dir, epochs = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_train, y_train = load(data_dir, "train")
    x_test, y_test = load(data_dir, "t10k")
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        started = time.time()
        order = torch.randperm(len(x_train))
        for start in range(0, len(order), 128):
            ids = order[start:start + 128]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[ids]), y_train[ids])
            loss.backward()
            optimizer.step()
        seconds = time.time() - started
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum())
                          for i in range(0, len(x_test), 1000))
        print(json.dumps({"epoch": epoch, "val_acc": correct / len(x_test),
                          "seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
