import torch
import torch.nn as nn



def mlp(*sizes, act=nn.ReLU):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


class ResBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


class ResMLP(nn.Module):
    """inp -> [x + fc2(relu(fc1(x)))] * n -> relu -> head."""

    def __init__(self, d_in=8, d=32, n=3, d_out=4):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = nn.Sequential(*[ResBlock(d) for _ in range(n)])
        self.head = nn.Linear(d, d_out)

    def forward(self, x):
        return self.head(torch.relu(self.blocks(self.inp(x))))
