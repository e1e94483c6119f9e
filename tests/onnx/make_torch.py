"""Writes a small PyTorch MNIST network as ONNX, with PyTorch's own
probabilities for the first test images, for tests/onnx/onnx_test.ts.

The network is the shape of PyTorch's MNIST example (examples/mnist/main.py):
normalisation by MNIST's mean and deviation inside the graph, two 3x3
convolutions (the first with batch normalisation), max pooling, dropout,
torch.flatten, two linear layers and log_softmax; it is trained briefly
(seeded) so that its classes mean something, then exported with
torch.onnx.export (opset 13, a dynamic batch).

Usage: make_torch.py OUT_DIR MNIST_DIR COUNT
Writes OUT_DIR/torch_mnist.onnx, OUT_DIR/probabilities.bin (COUNT x 10
float32, exp of the network's log_softmax on the first COUNT test images;
none when COUNT is 0). notebooks/from_pytorch.ipynb makes its model with it.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path, offset):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 12 * 12, 64)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = (x - 0.1307) / 0.3081
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def main():
    out, mnist, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.manual_seed(1)
    torch.set_num_threads(1)
    images = idx(os.path.join(mnist, "train-images-idx3-ubyte"), 16)
    labels = idx(os.path.join(mnist, "train-labels-idx1-ubyte"), 8)
    x = torch.from_numpy(images[: 2048 * 784].reshape(-1, 1, 28, 28) / 255.0).float()
    y = torch.from_numpy(labels[:2048].astype(np.int64))
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for start in range(0, 2048, 64):
        opt.zero_grad()
        loss = F.nll_loss(net(x[start : start + 64]), y[start : start + 64])
        loss.backward()
        opt.step()
    net.eval()
    torch.onnx.export(
        net,
        torch.zeros(1, 1, 28, 28),
        os.path.join(out, "torch_mnist.onnx"),
        opset_version=13,
        input_names=["input"],
        output_names=["log_probabilities"],
        dynamic_axes={"input": {0: "batch"}, "log_probabilities": {0: "batch"}},
    )
    if count == 0:
        return
    test = idx(os.path.join(mnist, "t10k-images-idx3-ubyte"), 16)
    tx = torch.from_numpy(test[: count * 784].reshape(-1, 1, 28, 28) / 255.0).float()
    with torch.no_grad():
        p = torch.exp(net(tx)).numpy().astype(np.float32)
    p.tofile(os.path.join(out, "probabilities.bin"))


if __name__ == "__main__":
    main()
