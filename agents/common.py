"""What every agent shares, written once: its network built from config (quantised when asked), the target
update, state save/restore (and a checkpoint of an agent made outside the trainer), and gradient clipping."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from rlkit.training.checkpoint import save_checkpoint
from rlkit.config import AgentConfig, Config, config_to_dict
from rlkit.nets import build_q_network
from rlkit.spaces import ObsSpace


def build_network(config: AgentConfig, obs_shape: Sequence[int] | ObsSpace, num_actions: int,
                  bins: int) -> torch.nn.Module:
    """The Q-network an ``agent`` config section describes: torso (one encoder per key for a Dict observation
    space), head (dueling or not, noisy or not), IQN's fraction embedding for ``critic.type: iqn``, quantisation."""
    net, critic = config.net, config.critic
    inputs = {key: (value.torso, value.scale) for key, value in net.inputs.items()}
    return build_q_network(obs_shape, num_actions, bins, net.torso, net.hidden, bool(config.dueling), net.blocks,
                           net.quant, net.ternary_scale, net.keep_fp32, net.noisy, net.sigma0,
                           implicit=critic.type == "iqn", embedding_dim=critic.embedding_dim,
                           default_quantiles=critic.act_samples, norm=net.norm, inputs=inputs)


class TargetUpdate:
    """target <- tau * online + (1 - tau) * target for one pair of networks (a hard copy when tau >= 1); buffers
    (BatchNorm statistics, quantiser scales) are copied, as SB3 does with ``running_*``.

    The tensor lists are collected once: walking the module tree costs as much as the copy itself on a small MLP,
    and DQN presets update the target every few env steps. Parameters keep their identity through
    ``load_state_dict`` (it copies in place), so the lists stay valid; build a new one for new modules.
    """

    def __init__(self, online: torch.nn.Module, target: torch.nn.Module):
        self.online, self.target = online, target
        self.online_parameters, self.target_parameters = list(online.parameters()), list(target.parameters())
        self.online_buffers, self.target_buffers = list(online.buffers()), list(target.buffers())

    @torch.no_grad()
    def __call__(self, tau: float) -> None:
        if tau >= 1.0:
            torch._foreach_copy_(self.target_parameters, self.online_parameters)
        else:
            torch._foreach_lerp_(self.target_parameters, self.online_parameters, tau)
        if self.target_buffers:
            torch._foreach_copy_(self.target_buffers, self.online_buffers)

    def serves(self, online: torch.nn.Module, target: torch.nn.Module) -> bool:
        return self.online is online and self.target is target


def update_target(online: torch.nn.Module, target: torch.nn.Module, tau: float) -> None:
    """One ``TargetUpdate`` of ``online`` into ``target`` (agents that update often keep a TargetUpdate)."""
    TargetUpdate(online, target)(tau)


def agent_state(agent: Any) -> dict[str, Any]:
    """An agent's online and target networks, optimiser and exploration RNG (and, where it has one, the torch
    generator of its sampled quantile fractions): tensors and plain data only, so a checkpoint of it loads with
    ``weights_only``. Shared by every agent with those parts."""
    state = {"online": agent.online.state_dict(), "optimizer": agent.optimizer.state_dict(),
             "rng": agent.rng.bit_generator.state}
    if agent.target is not agent.online:  # an agent without a target network (PQN) stores its weights once
        state["target"] = agent.target.state_dict()
    if getattr(agent, "fraction_generator", None) is not None:
        state["fraction_rng"] = agent.fraction_generator.get_state()
    return state


def load_agent_state(agent: Any, state: dict[str, Any]) -> None:
    """Inverse of ``agent_state``; a missing target is taken from the online network (imported models)."""
    agent.online.load_state_dict(state["online"])
    if agent.target is not agent.online:
        agent.target.load_state_dict(state.get("target", state["online"]))
    if "optimizer" in state:
        # torch keeps the tensors it is handed where dtype and device already match: a live agent's state (not a
        # file's) would then share Adam's moments and step counts with the agent it came from
        agent.optimizer.load_state_dict(_cloned(state["optimizer"]))
        # The state carries the learning rate it was saved with; the agent's config (a resume's overrides
        # included) decides the rate from here on. Adam's moments and step counts are kept.
        lr = getattr(agent.config, "lr", None)
        if lr is not None:
            for group in agent.optimizer.param_groups:
                group["lr"] = lr
    if "rng" in state:
        agent.rng.bit_generator.state = state["rng"]
    if "fraction_rng" in state and getattr(agent, "fraction_generator", None) is not None:
        agent.fraction_generator.set_state(state["fraction_rng"])


def _cloned(value: Any) -> Any:
    """``value`` with every tensor in its nested dicts and lists cloned."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {key: _cloned(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cloned(item) for item in value)
    return value


@torch.no_grad()
def clip_grad_norm(parameters: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale gradients so their global L2 norm is at most ``max_norm``; returns the norm before clipping.

    The same maths as ``torch.nn.utils.clip_grad_norm_`` (coefficient max_norm / (norm + 1e-6), capped at 1) with
    none of its per-call grouping work, which costs a third of the clip on a small MLP.
    """
    grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp_(max=1.0))
    return total


def save_agent_checkpoint(agent: Any, config: Config, path: Any, trainer_state: dict[str, Any] | None = None) -> Any:
    """Write ``agent`` as an rlkit checkpoint (the layout ``EnvLoop._save`` writes) that ``load_agent`` reads.

    Used for agents that did not come out of the trainer: distilled students and imported models. Returns the path.
    """
    if isinstance(getattr(agent, "config", None), AgentConfig):
        # the agent was built from the preset-resolved section: store its flags as the trainer stores a run's
        config = config.model_copy(update={"agent": agent.config})
    return save_checkpoint(path, {
        "config": config_to_dict(config),
        "spaces": {"obs_shape": list(agent.obs_shape), "obs_dtype": str(agent.obs_dtype),
                   "num_actions": agent.num_actions, "env_id": config.env.id,
                   **({"obs_space": agent.obs_space.to_dict()} if hasattr(agent, "obs_space") else {})},
        "agent": agent.state_dict(),
        "trainer": {"step": 0, "updates": 0, "episodes": 0, "evaluations": 0, "replay_step": None,
                    **(trainer_state or {})},
    })

