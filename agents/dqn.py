"""The DQN family: one agent class, variants by composition.

An agent is a Q-network plus a value representation (critic) plus a target rule:
- Double DQN (van Hasselt et al., 2016): the online network picks the next action, the target network scores it.
- Dueling (Wang et al., 2016): the head splits into value and advantage streams.
- n-step returns: the replay buffer sums rewards; the agent bootstraps with the discount it is handed.
- Critics (rlkit/critics.py) set the value representation: scalar, histograms (HL-Gauss, two-hot, C51), QR-DQN's
  fixed quantiles, IQN's sampled ones (its network takes the fractions as a second input; ``_outputs``).
- Target network: every ``target_period`` env steps the trainer calls ``update_target``, which copies (tau = 1) or
  Polyak-averages (tau < 1) the online weights into the target network.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from rlkit.config import AgentConfig
from rlkit.critics import QUANTILE_CRITICS, build_critic, outputs_of_actions
from rlkit.errors import ActionMaskError
from rlkit.nets import mode_dependent_modules, noisy_layers, set_noise, set_training
from rlkit.nets.numpy_mirror import MAX_BATCH, NumpyQNetwork
from rlkit.replay import Batch
from rlkit.spaces import ObsSpace, batch_size, concat_inputs, input_mask

from .common import TargetUpdate, agent_state, build_network, clip_grad_norm, load_agent_state
from .munchausen import munchausen_target
from .update_paths import build_update, choose_precision, choose_update_path


class DQNAgent:
    """Deep Q-learning agent.

    Args:
        config: the ``agent`` section of the experiment config.
        obs_shape: single observation shape; obs_dtype: its numpy dtype (uint8 stays uint8 up to the network).
        num_actions: size of the Discrete action space.
        device: torch device every tensor of the agent lives on.
        seed: seeds network initialisation and the epsilon-greedy RNG.
        obs_space: the observation space (rlkit/spaces.py) when it is not one Box of obs_shape/obs_dtype: a Dict or
            Tuple (one encoder per key), a categorical space, or one carrying an action mask. Its storage shape and
            dtype then replace obs_shape and obs_dtype.

    Action masks: when the observation carries ``action_mask`` (or ``act`` is handed a mask), acting is greedy over
    the legal actions and explores uniformly among them, and every target's argmax is over the next state's legal
    actions (Double DQN's online argmax too). A next state with no legal action (a finished game) counts every
    action legal there: its discount is 0, so the choice does not matter, only that it is finite.
    """

    has_target_network = True  # False: ``target`` is the online network itself (agents/pqn.py)

    def __init__(
        self,
        config: AgentConfig,
        obs_shape: Sequence[int],
        obs_dtype: np.dtype | str,
        num_actions: int,
        device: torch.device | str = "cpu",
        seed: int = 0,
        obs_space: ObsSpace | None = None,
    ):
        self.config = config
        self.obs_space = obs_space if obs_space is not None else ObsSpace.box(obs_shape, obs_dtype)
        self.obs_shape = self.obs_space.shape
        self.obs_dtype = self.obs_space.dtype
        mask_width = self.obs_space.num_mask_actions
        if mask_width is not None and mask_width != int(num_actions):
            raise ValueError(f"the observation's action_mask has {mask_width} entries, the action space "
                             f"{num_actions} actions")
        self.num_actions = int(num_actions)
        self.device = torch.device(device)
        self.critic = build_critic(config.critic).to(self.device)
        torch.manual_seed(seed)
        self.online = self._build_network().to(self.device)
        if self.has_target_network:
            self.target = self._build_network().to(self.device)
            self.target.load_state_dict(self.online.state_dict())
            self.target.requires_grad_(False)
        else:  # bootstrapping reads the online network itself (PQN)
            self.target = self.online
        # Eval mode everywhere but inside the gradient step: acting, Double-DQN's argmax and the target network use
        # BatchNorm's running statistics (batch-independent Q-values, one observation at a time works) and leave
        # them alone; only `update` trains, flipping just the modules whose forward reads the mode.
        self.online.eval()
        self.target.eval()
        self._mode_dependent = mode_dependent_modules(self.online)
        # Noisy nets: noise is on for exploring actions (while `exploring`, set by the training loops) and for
        # updates; greedy evaluation, `rlkit eval` and exports use the mean weights.
        self._noisy = noisy_layers(self.online) + (noisy_layers(self.target) if self.has_target_network else [])
        self.exploring = False
        self.parameters = list(self.online.parameters())
        # The fused kernel updates every parameter in one call: ~20% of an MLP update on CPU, same maths.
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)
        self.rng = np.random.default_rng(seed)
        # IQN: the quantile fractions come from their own seeded generator, saved with the agent, so a resumed run
        # draws the fractions an uninterrupted one would have.
        self.fraction_generator: torch.Generator | None = None
        if self.critic.implicit:
            self.fraction_generator = torch.Generator(device=self.device)
            self.fraction_generator.manual_seed(int(seed) + 0x5EED)
        self._numpy_online: tuple[torch.nn.Module, NumpyQNetwork | None] | None = None
        # 'eager', 'fused', 'inductor' or 'cuda_graph' (a config asking for what this network cannot run fails here,
        # not at the first update); the update function itself is built at the first update
        self.precision = choose_precision(self)  # 'fp32' or 'bf16' (autocast in ``forward``)
        self.update_path = choose_update_path(self)
        self._update: Any = None
        self._target_update: TargetUpdate | None = None  # the target update's tensor lists, collected once

    def _build_network(self) -> torch.nn.Module:
        return build_network(self.config, self.obs_space, self.num_actions, self.critic.bins)

    # -- acting -------------------------------------------------------------------------------------------------
    def act(self, obs: Any, epsilon: float = 0.0, mask: np.ndarray | None = None) -> np.ndarray | int:
        """Epsilon-greedy actions, over the legal actions where there is a mask.

        obs: (B, *obs_shape) -> actions (B,) int64; or a single observation (*obs_shape) -> one int. A Dict
        observation may come as the env hands it out (a dict of arrays, batched or not) or packed
        (``ObsSpace.pack``). mask: (B, A) or (A,) bool legal actions; overrides the observation's own mask, and
        masks an agent trained without one. The network is skipped when every action is random, which makes the
        warm-up phase cheap. Raises ActionMaskError when an observation has no legal action.
        """
        obs = self._stored(obs, mask)
        single = obs.shape == self.obs_shape
        batch = obs[None] if single else obs
        if batch.shape[1:] != self.obs_shape or (self.obs_space.composite and batch.dtype != self.obs_dtype):
            raise ValueError(f"observation shape {obs.shape} does not match the agent's {self.obs_shape}")
        legal = self._legal(batch, mask)
        if epsilon > 0:
            explore = self.rng.random(len(batch)) < epsilon
            if explore.all():
                actions = self._random_actions(len(batch), legal)
                return int(actions[0]) if single else actions
        if self.exploring and (self._noisy or self.critic.implicit):
            actions = self._exploring_greedy(batch, legal)
        else:
            actions = self.greedy(batch, legal)
        if epsilon > 0 and explore.any():
            actions[explore] = self._random_actions(int(explore.sum()), None if legal is None else legal[explore])
        return int(actions[0]) if single else actions

    def greedy(self, obs: np.ndarray, legal: np.ndarray | None = None) -> np.ndarray:
        """Greedy actions for a batch. obs: (B, *obs_shape) -> (B,) int64; legal: (B, A) bool, by default the
        observation's own action mask (none: every action).

        Small CPU batches of an MLP network go through its numpy mirror (rlkit/nets/numpy_mirror.py): same maths, a
        fraction of torch's per-call overhead, which dominates acting one env step at a time.
        """
        if legal is None:
            legal = self.obs_space.mask_of(obs)
        if len(obs) <= MAX_BATCH:
            mirror = self._mirror()
            if mirror is not None:
                q = mirror.q_values(obs)
                return (q if legal is None else np.where(legal, q, -np.inf)).argmax(1)
        with torch.no_grad():
            outputs = self.forward(self.online, self._inputs(obs))
            return self._masked_argmax(self.critic.q_values(outputs), legal)

    def _exploring_greedy(self, obs: np.ndarray, legal: np.ndarray | None = None) -> np.ndarray:
        """The greedy actions of the exploring policy: fresh noise in a noisy head for every acting step, and K
        freshly sampled fractions for IQN (``greedy`` uses the mean weights and K fixed fractions)."""
        set_noise(self._noisy, True)
        try:
            with torch.no_grad():
                outputs, _ = self._outputs(self.online, self._inputs(obs), "act")
                return self._masked_argmax(self.critic.q_values(outputs), legal)
        finally:
            set_noise(self._noisy, False)

    def _masked_argmax(self, q: torch.Tensor, legal: np.ndarray | None) -> np.ndarray:
        if legal is not None:
            q = q.masked_fill(~torch.as_tensor(legal, device=q.device), float("-inf"))
        return q.argmax(1).cpu().numpy()

    def _stored(self, obs: Any, mask: np.ndarray | None) -> np.ndarray:
        """An observation as the agent stores it: a dict packed, a bare array wrapped as the key ``obs`` of a space
        built by the info-mask wrapper (``{obs, action_mask}``), with ``mask`` filling a missing mask key."""
        space = self.obs_space
        if not space.composite:
            return np.asarray(obs)
        packed_array = isinstance(obs, (np.ndarray, np.void)) and obs.dtype.names is not None
        if not packed_array and not isinstance(obs, (Mapping, tuple)) and [f.name for f in space.inputs] == ["obs"]:
            obs = {"obs": obs}
        if isinstance(obs, Mapping) and space.mask_key is not None and space.mask_key not in obs:
            if mask is None:
                raise ValueError(f"this agent acts on observations with an '{space.mask_key}' key; pass one, or "
                                 "the legal actions as act(obs, mask=...)")
            obs = {**obs, space.mask_key: mask}
        try:
            return space.pack(obs)
        except ValueError as error:
            raise ValueError(f"{error}; the agent's observation space is {space.describe()}") from None

    def _legal(self, batch: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """(B, A) bool legal actions of a batch (``mask`` first, else the observation's), checked: an observation
        without any legal action raises ActionMaskError naming it."""
        legal = self.obs_space.mask_of(batch) if mask is None else np.asarray(mask, bool).reshape(len(batch), -1)
        if legal is None:
            return None
        if legal.shape[1] != self.num_actions:
            raise ValueError(f"action mask has {legal.shape[1]} entries, the agent {self.num_actions} actions")
        empty = ~legal.any(axis=1)
        if empty.any():
            raise ActionMaskError(f"observation {int(np.flatnonzero(empty)[0])} of the batch has no legal action "
                                  "(its action mask is all false); the env must offer at least one action where "
                                  "the episode has not ended")
        return legal

    def _random_actions(self, count: int, legal: np.ndarray | None) -> np.ndarray:
        """``count`` uniformly random actions, uniform over each row's legal ones when ``legal`` (count, A)."""
        if legal is None:
            return self.rng.integers(self.num_actions, size=count)
        # the argmax of uniform scores over the legal entries is a uniform pick among them
        return np.where(legal, self.rng.random(legal.shape), -1.0).argmax(1)

    def _inputs(self, obs: np.ndarray) -> torch.Tensor | dict[str, torch.Tensor]:
        """A stored batch as the network's input on the agent's device (per-key tensors for a Dict space)."""
        return self.obs_space.network_inputs(obs, self.device)

    def _legal_next(self, next_obs: Any) -> torch.Tensor | None:
        """(B, A) bool legal actions at the next states of a batch; a state with none (an ended game) allows all."""
        legal = input_mask(next_obs, self.obs_space.mask_key)
        if legal is None:
            return None
        return legal | ~legal.any(dim=1, keepdim=True)

    def _legal_q(self, q: torch.Tensor, next_obs: Any) -> torch.Tensor:
        """Q-values (B, A) at ``next_obs`` with the actions illegal there at -inf (unchanged without a mask): what
        every bootstrap's max or argmax reads."""
        legal = self._legal_next(next_obs)
        return q if legal is None else q.masked_fill(~legal, float("-inf"))

    def _outputs(self, network: torch.nn.Module, obs: torch.Tensor,
                 role: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``network``'s outputs at ``obs`` and the fractions they were computed at: sampled for ``role`` ('online',
        'target', 'act') when the critic is implicit (IQN), else None (fixed outputs)."""
        if not self.critic.implicit:
            return self.forward(network, obs), None
        fractions = self.critic.sample_fractions(batch_size(obs), role, self.fraction_generator)
        return self.forward(network, obs, fractions), fractions

    def forward(self, network: torch.nn.Module, *inputs: Any) -> torch.Tensor:
        """``network(*inputs)`` at the agent's precision: fp32, or bf16 under autocast (weights stay fp32, the
        outputs come back as fp32 for the critic's loss and read-outs)."""
        if self.precision == "fp32":
            return network(*inputs)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return network(*inputs).float()

    def _mirror(self) -> NumpyQNetwork | None:
        """The online network's numpy mirror, rebuilt when the network or its parameter storage changed."""
        cached = self._numpy_online
        if cached is not None and cached[0] is self.online and (cached[1] is None or cached[1].is_current()):
            return cached[1]
        mirror = NumpyQNetwork.mirror(self.online, self.critic)
        self._numpy_online = (self.online, mirror)
        return mirror

    @torch.inference_mode()
    def q_values(self, obs: np.ndarray) -> torch.Tensor:
        """Q-values for a batch of observations. obs: (B, *obs_shape) -> (B, A) float32 on the agent's device."""
        return self.critic.q_values(self.forward(self.online, self._inputs(obs)))

    # -- learning -----------------------------------------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step on a replay batch, on the path ``agent.compile`` picks (agents/update_paths.py: fused
        kernels for a plain MLP with the scalar critic, eager autograd otherwise by default; the same maths).

        Returns device tensors (no host sync, so a training phase of many updates never waits on the device):
        ``loss`` () the importance-weighted mean of the critic's per-sample losses, and ``td_errors`` (B,), the
        critic's per-sample |TD error| before the step (``Critic.td_errors``), which prioritised replay turns into
        priorities.
        """
        if self._update is None:
            self._update = build_update(self, self.update_path)
        return self._update(batch)

    def eager_update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``update`` through autograd: every network, critic and target rule."""
        loss, td_errors = self.loss_and_errors(*self.batch_tensors(batch))
        self.gradient_step(loss)
        return {"loss": loss.detach(), "td_errors": td_errors}

    def batch_tensors(self, batch: Batch) -> tuple[Any, ...]:
        """A replay batch as device tensors: (obs, actions, next_obs, returns, discounts, weights)."""
        device = self.device
        return (self._inputs(batch.obs), torch.as_tensor(batch.actions, device=device), self._inputs(batch.next_obs),
                torch.as_tensor(batch.returns, device=device), torch.as_tensor(batch.discounts, device=device),
                torch.as_tensor(batch.weights, device=device))

    def loss_and_errors(self, obs: Any, actions: torch.Tensor, next_obs: Any, returns: torch.Tensor,
                        discounts: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The importance-weighted loss () of a batch (differentiable) and its per-sample |TD errors| (B,)."""
        set_noise(self._noisy, True)  # noisy nets: new noise for every update (online and target), as in Rainbow
        try:
            target = self._target(obs, actions, next_obs, returns, discounts)
            set_training(self._mode_dependent, True)
            try:
                outputs, fractions = self._outputs(self.online, obs, "online")
            finally:
                set_training(self._mode_dependent, False)
        finally:
            set_noise(self._noisy, False)
        # gather, not fancy indexing: its backward is a scatter instead of an accumulating index_put.
        outputs_sa = outputs_of_actions(outputs, actions)
        loss = (self.critic.loss(outputs_sa, target, fractions) * weights).mean()
        return loss, self.critic.td_errors(outputs_sa.detach(), target)

    def gradient_step(self, loss: torch.Tensor) -> None:
        """The gradient step of a loss: backward, clip to ``max_grad_norm``, Adam (every agent of the family)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm is not None:
            clip_grad_norm(self.parameters, self.config.max_grad_norm)
        self.optimizer.step()

    @torch.no_grad()
    def priorities(self, batch: Batch) -> np.ndarray:
        """Per-sample |TD errors| of a batch without learning from it: (B,) float32 (Ape-X actors' initial
        priorities; the same quantity ``update`` returns as ``td_errors``)."""
        device = self.device
        obs, actions = self._inputs(batch.obs), torch.as_tensor(batch.actions, device=device)
        target = self._target(obs, actions, self._inputs(batch.next_obs),
                              torch.as_tensor(batch.returns, device=device),
                              torch.as_tensor(batch.discounts, device=device))
        outputs_sa = outputs_of_actions(self._outputs(self.online, obs, "online")[0], actions)
        return self.critic.td_errors(outputs_sa, target).cpu().numpy()

    def _target(self, obs, actions, next_obs, returns, discounts) -> torch.Tensor:
        """The TD target of this agent's rule: Munchausen's when configured, else ``td_target``."""
        if self.config.munchausen is None:
            return self.td_target(next_obs, returns, discounts)
        return self.munchausen_td_target(obs, actions, next_obs, returns, discounts)

    @torch.no_grad()
    def td_target(self, next_obs: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor) -> torch.Tensor:
        """The critic's TD target for a batch. next_obs: network inputs of (B, *obs_shape); returns (n-step sums), discounts: (B,).

        The next action is the argmax of the online network's Q for Double DQN, of the target network's otherwise;
        the target network always scores it. Returns the critic's target representation ((B,) for Scalar). IQN
        scores at N' sampled fractions, and Double DQN's online argmax reads the mean over K sampled ones. With an
        action mask the argmax is over the next state's legal actions.
        """
        next_outputs, _ = self._outputs(self.target, next_obs, "target")
        chooser = self._outputs(self.online, next_obs, "act")[0] if self.config.double else next_outputs
        next_actions = self._legal_q(self.critic.q_values(chooser), next_obs).argmax(1)
        return self.critic.td_target(next_outputs, next_actions, returns, discounts)

    @torch.no_grad()
    def munchausen_td_target(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                             returns: torch.Tensor, discounts: torch.Tensor) -> torch.Tensor:
        """Munchausen's target (agents/munchausen.py) from the target network at s and s': (B,) for the scalar
        critic, the (B, M) target quantiles for QR-DQN and IQN (IQN: both states at N' sampled fractions)."""
        m = self.config.munchausen
        outputs, _ = self._outputs(self.target, concat_inputs(obs, next_obs), "target")  # one forward for s and s'
        both = self.critic.q_values(outputs)
        count = batch_size(obs)
        q_now, q_next = both[:count], both[count:]
        quantiles = outputs[count:] if self.config.critic.type in QUANTILE_CRITICS else None
        return munchausen_target(q_now, actions, q_next, returns, discounts, m.alpha, m.tau, m.clip,
                                 legal_now=self._legal_next(obs), legal_next=self._legal_next(next_obs),
                                 next_quantiles=quantiles)

    def update_target(self) -> None:
        """target <- tau * online + (1 - tau) * target (a hard copy when tau = 1); see ``common.update_target``."""
        if self.has_target_network:
            sync = self._target_update
            if sync is None or not sync.serves(self.online, self.target):
                sync = self._target_update = TargetUpdate(self.online, self.target)
            sync(self.config.tau)

    # -- state --------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training: networks, optimiser, exploration RNG."""
        return agent_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; raises ValueError/RuntimeError on a shape mismatch (caller explains)."""
        load_agent_state(self, state)
        self._update = None  # rebuilt at the next update: a CUDA graph holds the optimiser state it captured
