# Partly wrong Adam: epsilon inside the square root, sqrt(v_hat + eps), as one source's hint
# suggests. The moments and the bias correction are right, so the checks of those pass;
# the update differs from torch.optim.Adam wherever v_hat is small compared with eps.
import torch
from typing import List, Tuple


class AdamOptimizer:
    def __init__(self, params: List[torch.Tensor], lr: float = 0.001,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self) -> None:
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                m.copy_(self.beta1 * m + (1 - self.beta1) * p.grad)
                v.copy_(self.beta2 * v + (1 - self.beta2) * p.grad ** 2)
                m_hat = m / (1 - self.beta1 ** self.t)
                v_hat = v / (1 - self.beta2 ** self.t)
                p.sub_(self.lr * m_hat / torch.sqrt(v_hat + self.eps))  # eps belongs outside the root

    def zero_grad(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
