"""The eager DQN update captured once in a CUDA graph and replayed for every batch (``agent.compile=cuda_graph``).

A small DQN update on a GPU is launch-bound: hundreds of tiny kernels, each costing more to launch than to run.
A CUDA graph records them once and replays them with one launch. Shapes must stay fixed, so the batch is copied
into static device tensors (through pinned host buffers, asynchronously) before each replay; the optimiser must
be capturable (Adam with ``capturable=True``, set when this path is built). Capturing needs warm-up iterations on a
side stream, which are real updates: the parameters and optimiser state are saved before and restored after, so
the first replayed update is the first update, as on the eager path.

What cannot be captured runs eagerly instead: a batch of another size, Dict observations, noisy nets and IQN (they
draw random numbers from their own generators). Loading a state into the agent rebuilds the graph (the
optimiser's state tensors are new ones).

This path needs a CUDA device and has no CPU fallback of its own; ``choose_update_path`` refuses it elsewhere.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from rlkit.replay import Batch


def graph_unsupported(agent: Any) -> str | None:
    """Why ``agent``'s update cannot be captured (a phrase for an error message), or None when it can."""
    if agent.device.type != "cuda":
        return f"device {agent.device} (CUDA graphs need a CUDA device)"
    if agent.obs_space.composite:
        return f"a {agent.obs_space.describe()} observation (one Box only)"
    if agent._noisy:
        return "net.noisy (noise comes from generators the graph does not own)"
    if agent.critic.implicit:
        return "critic.type=iqn (its fractions come from the agent's own generator)"
    if type(agent.optimizer) is not torch.optim.Adam:
        return "an optimiser other than Adam"
    return None


class GraphedUpdate:
    """``DQNAgent.update`` through one CUDA graph per agent; same maths as ``agent.eager_update``."""

    def __init__(self, agent: Any):
        reason = graph_unsupported(agent)
        if reason is not None:
            raise ValueError(f"the CUDA-graph update does not support {reason}")
        self.agent = agent
        for group in agent.optimizer.param_groups:
            group["capturable"] = True  # Adam's step then keeps its step counts on the device, as capture needs
        self.graph: torch.cuda.CUDAGraph | None = None
        self.size: int | None = None
        self.failed = False

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        size = len(batch.actions)
        if self.failed or (self.size is not None and size != self.size):
            return self.agent.eager_update(batch)
        if self.graph is None:
            try:
                self._capture(batch)
            except RuntimeError as error:  # a model or driver the capture rejects: train on, eagerly
                self.failed = True
                print(f"rlkit: warning: CUDA graph capture failed ({error}); the update runs eagerly",
                      file=sys.stderr)
                return self.agent.eager_update(batch)
        self._stage(batch)
        self.graph.replay()
        return {"loss": self.loss.clone(), "td_errors": self.td_errors.clone()}

    # -- pieces ---------------------------------------------------------------------------------------------------
    def _stage(self, batch: Batch) -> None:
        """Copy the batch into the static device inputs through pinned host buffers (asynchronous H2D)."""
        self.copied.synchronize()  # the previous batch's copies have left the pinned buffers
        for host, array in zip(self.host, _fields(batch)):
            host.numpy()[...] = array
        for device_tensor, host in zip(self.static, self.host):
            device_tensor.copy_(host, non_blocking=True)
        self.copied.record()

    def _capture(self, batch: Batch) -> None:
        agent = self.agent
        self.size = len(batch.actions)
        arrays = _fields(batch)
        self.host = [torch.from_numpy(np.ascontiguousarray(a)).pin_memory() for a in arrays]
        self.static = [h.to(agent.device) for h in self.host]
        self.copied = torch.cuda.Event()
        self.copied.record()
        saved = _snapshot(agent)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: lets autograd and the allocator settle before capture
            for _ in range(3):
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        _restore(agent, saved)
        self.graph = torch.cuda.CUDAGraph()
        agent.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.loss, self.td_errors = self._step()

    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        agent = self.agent
        obs, actions, returns, discounts, next_obs, weights = self.static
        loss, td_errors = agent.loss_and_errors(obs, actions, next_obs, returns, discounts, weights)
        agent.gradient_step(loss)
        return loss.detach(), td_errors


def _fields(batch: Batch) -> list[np.ndarray]:
    """The arrays a batch hands the update, in a fixed order (obs, actions, returns, discounts, next_obs,
    weights), with the dtypes the eager path's tensors get."""
    return [np.asarray(batch.obs), np.asarray(batch.actions, np.int64), np.asarray(batch.returns, np.float32),
            np.asarray(batch.discounts, np.float32), np.asarray(batch.next_obs), np.asarray(batch.weights, np.float32)]


def _snapshot(agent: Any) -> tuple[list[torch.Tensor], set[int]]:
    """Copies of every tensor an update changes, and which parameters had optimiser state already."""
    return [t.detach().clone() for t in _state_tensors(agent)], {id(p) for p in agent.optimizer.state}


def _restore(agent: Any, saved: tuple[list[torch.Tensor], set[int]]) -> None:
    """Undo the warm-up updates: saved tensors back in place, optimiser state they created zeroed (Adam's state
    starts at zero moments and step 0, which is what a fresh state holds before its first step)."""
    values, had_state = saved
    with torch.no_grad():
        for tensor, value in zip(_state_tensors(agent, had_state), values):
            tensor.copy_(value)
        for parameter, state in agent.optimizer.state.items():
            if id(parameter) not in had_state:
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        value.zero_()


def _state_tensors(agent: Any, only: set[int] | None = None) -> list[torch.Tensor]:
    """Every tensor an update changes: online parameters and buffers, and the optimiser's state (of the
    parameters in ``only`` when given)."""
    tensors = [*agent.online.parameters(), *agent.online.buffers()]
    for parameter, state in agent.optimizer.state.items():
        if only is None or id(parameter) in only:
            tensors += [value for value in state.values() if isinstance(value, torch.Tensor)]
    return tensors
