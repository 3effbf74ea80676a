"""L-BFGS without host-device synchronisation, and loss read-back that never stalls the GPU.

`LBFGS` takes the same steps as `torch.optim.LBFGS(lr=1, max_iter=1, tolerance_grad=0, tolerance_change=0)`
called once per iteration (unit steps, no line search), but keeps every decision on the device: where torch
asks `if ys > 1e-10` or `if gtd > 0` in Python (a sync per iteration on CUDA), this one multiplies by a 0/1 tensor.
`LossReader` copies each iteration's loss terms to the host asynchronously and hands them over once they
have arrived, so progress is reported for every iteration without waiting on the GPU.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

CURVATURE_EPS = 1e-10  # torch.optim.LBFGS's threshold on y.s for keeping a curvature pair


class LBFGS:
    """Limited-memory BFGS on one tensor (or several, taken as one vector), one unit step per `step` call; the history
    is preallocated."""

    def __init__(self, parameters: torch.Tensor | Sequence[torch.Tensor], history_size: int = 100):
        self.parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
        self.history_size = history_size
        first = self.parameters[0]
        size = sum(p.numel() for p in self.parameters)
        self.steps = first.new_zeros(history_size, size)  # s = x_{k+1} - x_k
        self.grad_changes = first.new_zeros(history_size, size)  # y = g_{k+1} - g_k
        self.rho = first.new_zeros(history_size)  # 1 / y.s, or 0 for a rejected pair (a no-op in the recursion)
        self.h_diag = first.new_ones(())
        self.iteration = 0
        self.prev_grad: torch.Tensor | None = None
        self.direction: torch.Tensor | None = None
        self.step_size: torch.Tensor | None = None

    @staticmethod
    def state_bytes_per_element(history_size: int) -> int:
        """Float32 bytes the optimizer keeps per parameter element: the history plus a few working vectors."""
        return 4 * (2 * history_size + 5)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate `closure` (which must zero the gradient, compute the loss and call backward) and take one step."""
        with torch.enable_grad():
            loss = closure()
        grad = torch.cat([p.grad.reshape(-1) for p in self.parameters])  # a copy, also of a single tensor
        if self.iteration == 0:
            direction = grad.neg()
            step_size = grad.abs().sum().reciprocal().clamp(max=1.0)
        else:
            slot = (self.iteration - 1) % self.history_size
            y = grad - self.prev_grad
            s = self.direction * self.step_size
            ys = y.dot(s)
            keep = (ys > CURVATURE_EPS).to(grad.dtype)
            self.steps[slot] = s
            self.grad_changes[slot] = y
            self.rho[slot] = keep * ys.clamp_min(CURVATURE_EPS).reciprocal()
            self.h_diag = keep * ys / y.dot(y).clamp_min(1e-30) + (1 - keep) * self.h_diag
            newest_first = [(slot - i) % self.history_size for i in range(min(self.iteration, self.history_size))]
            q = grad.neg()
            alphas = {}
            for j in newest_first:
                alphas[j] = self.steps[j].dot(q) * self.rho[j]
                q.addcmul_(self.grad_changes[j], alphas[j], value=-1)
            direction = q.mul_(self.h_diag)
            for j in reversed(newest_first):
                beta = self.grad_changes[j].dot(direction) * self.rho[j]
                direction.addcmul_(self.steps[j], alphas[j] - beta)
            step_size = torch.ones((), device=grad.device, dtype=grad.dtype)
        step_size = step_size * (grad.dot(direction) < 0).to(grad.dtype)  # not a descent direction: stay put
        offset = 0
        for parameter in self.parameters:
            count = parameter.numel()
            parameter.add_((direction[offset:offset + count] * step_size).view_as(parameter))
            offset += count
        self.prev_grad, self.direction, self.step_size = grad, direction, step_size
        self.iteration += 1
        return loss


class LossReader:
    """Hands each iteration's loss terms to `deliver(iteration, values)` in order, without a blocking read on CUDA.

    On the CPU values are delivered at once. On CUDA they are copied to pinned memory behind a recorded event and
    delivered once the event has completed (checked without waiting); `flush` waits for the rest at the end.
    """

    def __init__(self, device: torch.device, deliver: Callable[[int, list[float]], None]):
        self.asynchronous = device.type == "cuda"
        self.deliver = deliver
        self.pending: list[tuple[int, torch.Tensor, object]] = []

    def push(self, iteration: int, terms: list[torch.Tensor]) -> None:
        values = torch.stack([t.detach().float() for t in terms])
        if not self.asynchronous:
            self.deliver(iteration, values.tolist())
            return
        host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
        host.copy_(values, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending.append((iteration, host, event))
        while self.pending and self.pending[0][2].query():
            done, arrived, _ = self.pending.pop(0)
            self.deliver(done, arrived.tolist())

    def flush(self) -> None:
        for iteration, host, event in self.pending:
            event.synchronize()
            self.deliver(iteration, host.tolist())
        self.pending.clear()
