"""L-BFGS without host-device synchronisation, and loss read-back that never stalls the GPU.

`LBFGS` takes unit steps without a line search, as `torch.optim.LBFGS(lr=1, max_iter=1)` called once per
iteration, with two changes that make its path a continuous function of the gradients, so that rounding (another
CPU's vector kernels, another thread count) moves the result by rounding and not by a different path:
- every curvature pair is kept, Powell-damped (Nocedal & Wright, 18.2) where its curvature y.s is under 0.2 s.B.s,
  instead of torch's keep-or-drop at y.s > 1e-10: a pair just above that threshold once sent a texture's pixels to
  -3..8 in one step, and just below it was dropped, so two CPUs could take different paths from the second step;
- a step moves no element by more than MAX_STEP (the whole step is scaled down, never bent).
Every decision stays on the device: nothing reads a value back (a sync per iteration on CUDA).
`LossReader` copies each iteration's loss terms to the host asynchronously and hands them over once they
have arrived, so progress is reported for every iteration without waiting on the GPU.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

DAMPING_THRESHOLD = 0.2  # Powell's: a pair whose y.s is under this x s.B.s is damped toward B.s
MAX_STEP = 0.25  # the most one step may move an element (a pixel in [0, 1]); larger steps are scaled down


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

    def damped(self, y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Powell's damping of the gradient change `y` for step `s`, with B = I / h_diag (the current initial
        Hessian): y itself where y.s >= DAMPING_THRESHOLD x s.B.s, else blended toward B.s just enough to reach it.
        Continuous in y: the blend is 1 exactly at the threshold."""
        s_b_s = s.dot(s) / self.h_diag
        ys = y.dot(s)
        short = s_b_s - ys
        theta = torch.where(ys >= DAMPING_THRESHOLD * s_b_s, torch.ones_like(ys),
                            (1 - DAMPING_THRESHOLD) * s_b_s / short.clamp_min(1e-30))
        return theta * y + (1 - theta) * s / self.h_diag

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
            s = self.direction * self.step_size
            y = self.damped(grad - self.prev_grad, s)
            ys = y.dot(s)
            moved = (ys > 0).to(grad.dtype)  # 0 only after a step that stayed put (s = 0): that pair is empty
            self.steps[slot] = s
            self.grad_changes[slot] = y
            self.rho[slot] = moved * ys.clamp_min(1e-30).reciprocal()
            self.h_diag = moved * ys / y.dot(y).clamp_min(1e-30) + (1 - moved) * self.h_diag
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
        step_size = step_size * (MAX_STEP / (direction.abs().amax() * step_size).clamp_min(MAX_STEP))
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
