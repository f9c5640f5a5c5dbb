"""Q* agent: learns Q(s, a) = c(s, a) + cost-to-go(s') on a puzzle, for Q* / A* search (Agostinelli et al. 2021).

Training states come from backward random walks of 0..K moves from the goal (``training_states``). One update
trains ALL A actions of every state at once (DeepCubeA's value iteration, per action):

    target(s, a) = c(s, a) + (0 if s' = next(s, a) is a goal else min_a' Q_target(s', a'))

so a batch of B states costs one online forward (B states), one ``expand`` (B*A children) and one target forward
(B*A children). With ``puzzle.target_actions = k`` an update trains k actions per state drawn uniformly without
replacement instead (B*k children): with the cube's 1884 meta-actions, all of them would be ~1,900 child forwards
per state, each through the 1884-wide head. With ``puzzle.target_from = CKPT`` the bootstrap min_a' Q(s', a')
comes from that trained Q* network instead of the agent's own target network: a puzzle's cost-to-go does not depend
on its action set when every action costs its number of base moves, so a quarter-turn cube network can teach the
meta-action one. The teacher is read when training starts (``bootstrap_network``), never when a trained
checkpoint is loaded for search, which therefore needs no teacher file.

Goal states are trained like any other (their own Q is not forced to 0); only a goal CHILD contributes its cost
alone. Q is a cost: the greedy action is the argmin. The network (``agent.net``, usually the
DeepCubeA residual MLP "resmlp" with BatchNorm) is in train mode only inside ``update``; inference and the target
network always run in eval mode, so batch-1 calls and search use the running statistics.

The trainer's puzzle mode calls: ``training_states(rng)``, ``update(states)``, ``update_target()`` every
``train.target_period`` updates, ``solve_rate(puzzle.eval_depths, puzzle.eval_states, rng)`` at evaluations,
and ``state_dict()`` / ``load_state_dict()`` for checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from rlkit.config import Config, PuzzleConfig, config_from_dict
from rlkit.critics import Scalar
from rlkit.device import bf16_native
from rlkit.envs.puzzles.protocol import Walks
from rlkit.errors import CheckpointError, ConfigError

from .common import agent_state, build_network, clip_grad_norm, load_agent_state, update_target
from .update_paths import choose_precision

INFERENCE_CHUNK = 65_536  # states per forward pass in q_values: bounds activation memory for huge expansions


class QStarAgent:
    """Cost-to-go Q-learning on a puzzle.

    Args:
        config: the whole experiment config; uses ``agent`` (lr, adam_eps, max_grad_norm, tau, dueling,
            critic.loss, net.torso/hidden/blocks/quant) and ``puzzle`` (batch_size, max_scramble).
        puzzle: a ``rlkit.envs.puzzles.protocol.Puzzle`` (``build_puzzle(config.puzzle)`` gives the configured one).
        device: torch device of the networks. seed: network init and exploration RNG (default ``config.seed``).
    """

    def __init__(self, config: Config, puzzle: Any, device: torch.device | str = "cpu", seed: int | None = None):
        agent = config.agent
        if agent.critic.type != "scalar":
            raise ConfigError(f"config field 'agent.critic.type': the qstar agent regresses costs with a scalar "
                              f"critic, got '{agent.critic.type}'")
        self.config, self.puzzle_config = agent, config.puzzle
        longest = getattr(puzzle, "longest_walk", None)
        walking = config.puzzle.targets != "bellman" and config.puzzle.non_backtracking
        if walking and longest is not None and config.puzzle.max_scramble > longest:
            raise ConfigError(f"config field 'puzzle.max_scramble': non-backtracking walks on {puzzle.name} are at "
                              f"most {longest} moves long, got {config.puzzle.max_scramble}; set "
                              f"puzzle.max_scramble<={longest} or puzzle.non_backtracking=false")
        self.puzzle = puzzle
        self.num_actions = int(puzzle.num_actions)
        self.obs_shape = (int(puzzle.encoded_size),)
        self.device = torch.device(device)
        self.critic = Scalar(agent.critic.loss)
        seed = config.seed if seed is None else seed
        torch.manual_seed(seed)
        try:
            self.online = self._build_network().to(self.device)
            self.target = self._build_network().to(self.device)
        except ValueError as error:
            raise ConfigError(f"config field 'agent.net': {error}") from None
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        self.target.eval()
        self.online.eval()
        self.parameters = list(self.online.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=agent.lr, eps=agent.adam_eps, fused=True)
        self.rng = np.random.default_rng(seed)
        self._teacher: torch.nn.Module | None = None  # puzzle.target_from's network, read when training needs it
        self.precision = _precision(self)
        self.updates = 0  # updates done: mixed targets' Bellman cadence counts them (saved with the state)

    def _build_network(self) -> torch.nn.Module:
        return build_network(self.config, self.obs_shape, self.num_actions, 1)

    # -- data -----------------------------------------------------------------------------------------------------
    def training_states(self, rng: np.random.Generator) -> np.ndarray:
        """``puzzle.batch_size`` states, each a backward walk of uniform 0..``max_scramble`` moves. -> (B, D)."""
        count, longest = self.puzzle_config.batch_size, self.puzzle_config.max_scramble
        return self.puzzle.scramble(count, rng.integers(0, longest + 1, size=count), rng)

    def training_batch(self, rng: np.random.Generator) -> np.ndarray | Walks:
        """What the next ``update`` trains on: ``training_states`` for Bellman targets; for walk / mixed targets,
        ``puzzle.batch_size`` walk states with their lengths (``Puzzle.walks``, prefixes of 1..max_scramble)."""
        cfg = self.puzzle_config
        if cfg.targets == "bellman":
            return self.training_states(rng)
        return self.puzzle.walks(cfg.batch_size, cfg.max_scramble, rng, cfg.non_backtracking)

    # -- learning -------------------------------------------------------------------------------------------------
    def update(self, batch: np.ndarray | Walks) -> dict[str, torch.Tensor]:
        """One gradient step on all A actions of each state (or ``puzzle.target_actions`` random ones).

        batch: states (B, D) -> Bellman targets; ``Walks`` -> walk-bound targets (``walk_target``), and with
        ``puzzle.targets: mixed`` every ``bellman_every``-th update Bellman targets capped by the walk bound on the
        first ``bellman_batch_size`` states. Returns {"loss": () device tensor, "states": states trained on,
        "bellman": whether the targets were Bellman ones}.
        """
        cfg = self.puzzle_config
        self.updates += 1
        walks = batch if isinstance(batch, Walks) else None
        bellman = walks is None or (cfg.targets == "mixed" and self.updates % cfg.bellman_every == 0)
        if walks is not None and bellman and cfg.bellman_batch_size is not None:
            walks = walks.take(cfg.bellman_batch_size)
        states = batch if walks is None else walks.states
        sampled = cfg.target_actions
        actions = None
        if sampled is not None and sampled < self.num_actions:
            # k distinct actions per state: the k smallest of A uniform keys per row (argpartition, no sort)
            keys = self.rng.random((len(states), self.num_actions))
            actions = np.argpartition(keys, sampled - 1, axis=1)[:, :sampled]  # (B, k)
        if walks is None:
            target = self.td_target(states, actions)
        elif not bellman:
            target = self.walk_target(walks, actions)
        else:
            target = torch.minimum(self.td_target(states, actions), self.walk_target(walks, actions))
        self.online.train()  # BatchNorm uses batch statistics while learning...
        q = self.critic.q_values(self.forward(self.online, self.puzzle.encode(states, self.device)))  # (B, A)
        self.online.eval()  # ...and running statistics everywhere else
        if actions is not None:
            q = q.gather(1, torch.as_tensor(actions, device=self.device))  # (B, k)
        loss = self.critic.loss(q.reshape(-1, 1), target.reshape(-1)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm is not None:
            clip_grad_norm(self.parameters, self.config.max_grad_norm)
        self.optimizer.step()
        return {"loss": loss.detach(), "states": len(states), "bellman": bellman}

    @torch.no_grad()
    def td_target(self, states: np.ndarray, actions: np.ndarray | None = None) -> torch.Tensor:
        """c(s, a) + [s' not goal] * min_a' Q_target(s', a').

        states (B, D); actions (B, k) int, or None for every action. -> (B, k) or (B, A) float32.
        """
        if actions is None:
            children, costs = self.puzzle.expand(states)  # (B*A, D), (B, A)
        else:
            children, costs = self.puzzle.next_states(np.repeat(states, actions.shape[1], axis=0), actions.ravel())
            costs = costs.reshape(actions.shape)
        next_q = self._forward(self.bootstrap_network(), children).min(dim=1).values  # (B*A,) or (B*k,)
        not_goal = torch.as_tensor(~self.puzzle.is_goal(children), device=self.device)
        costs = torch.as_tensor(costs, dtype=torch.float32, device=self.device)
        return costs + (next_q * not_goal).view_as(costs)

    def walk_target(self, walks: Walks, actions: np.ndarray | None = None) -> torch.Tensor:
        """Upper bounds on Q*(s, a) from the walks alone, no network: c(s, a) + a bound on the child's distance.

        A state reached by a walk of k base moves is at most k from the goal, so its child under action a is at
        most k + c(a) away (c(a) counts base moves); the child under the inverse of the walk's last move is the
        walk's previous state, at most k - 1 away (so is every action in ``walks.back``, where the puzzle knows
        more than the last move); a goal child is 0 away. walks: B states; actions (B, k) or None
        for every action -> (B, k) or (B, A) float32 on the agent's device.
        """
        costs = np.broadcast_to(self.puzzle.action_costs, (len(walks), self.num_actions))
        bound = walks.lengths[:, None] + costs
        if walks.back is not None:
            bound = np.where(walks.back, walks.lengths[:, None] - 1, bound)
        back = np.flatnonzero(walks.last >= 0)
        bound[back, self.puzzle.inverse_actions[walks.last[back]]] = walks.lengths[back] - 1
        children, _ = self.puzzle.expand(walks.states)
        bound = np.where(self.puzzle.is_goal(children).reshape(bound.shape), 0.0, bound)
        target = costs + bound
        if actions is not None:
            target = np.take_along_axis(target, actions, axis=1)
        return torch.as_tensor(target, dtype=torch.float32, device=self.device)

    def bootstrap_network(self) -> torch.nn.Module:
        """The network whose min_a Q gives the targets' cost-to-go: ``puzzle.target_from``'s, else the target net."""
        path = self.puzzle_config.target_from
        if path is None:
            return self.target
        if self._teacher is None:
            try:
                teacher = load_qstar_agent(path, self.device)
            except CheckpointError as error:
                raise CheckpointError(f"config field 'puzzle.target_from': {error}") from None
            same = (teacher.puzzle.encoded_size == self.puzzle.encoded_size
                    and np.array_equal(teacher.puzzle.goal, self.puzzle.goal))
            if not same:
                theirs, ours = (f"{p.name} ({p.encoded_size} inputs)" for p in (teacher.puzzle, self.puzzle))
                raise ConfigError(f"config field 'puzzle.target_from': '{path}' was trained on {theirs}, not on "
                                  f"this agent's puzzle, {ours}; pass a checkpoint of the same puzzle")
            self._teacher = teacher.online.requires_grad_(False).eval()
        return self._teacher

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- tau * online + (1 - tau) * target (hard copy at tau = 1); BatchNorm statistics are copied."""
        update_target(self.online, self.target, self.config.tau)

    # -- inference (eval mode) ------------------------------------------------------------------------------------
    def q_values(self, states: np.ndarray) -> torch.Tensor:
        """Online Q for puzzle states. states (B, D) -> (B, A) float32 on the agent's device."""
        with torch.inference_mode():
            return self._forward(self.online, states)

    def q_numpy(self, states: np.ndarray) -> np.ndarray:
        """``q_values`` as numpy: the ``q_fn`` of Q* search. (B, D) -> (B, A) float32."""
        return self.q_values(states).cpu().numpy()

    def heuristic(self, states: np.ndarray) -> np.ndarray:
        """min_a Q(s, a), and 0 at goal states: the ``heuristic_fn`` of A* search. (B, D) -> (B,) float32."""
        h = self.q_values(states).min(dim=1).values.cpu().numpy()
        return np.where(self.puzzle.is_goal(states), 0.0, h).astype(np.float32)

    def act(self, obs: np.ndarray, epsilon: float = 0.0) -> np.ndarray | int:
        """Epsilon-greedy (lowest-cost) actions from encoded observations, for the Gym wrappers.

        obs: (B, encoded_size) -> (B,) int64, or one observation (encoded_size,) -> int.
        """
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.shape == self.obs_shape
        batch = obs[None] if single else obs
        if batch.shape[1:] != self.obs_shape:
            raise ValueError(f"observation shape {obs.shape} does not match the agent's {self.obs_shape}")
        with torch.inference_mode():
            actions = self.critic.q_values(self.forward(self.online, torch.as_tensor(batch, device=self.device)))
            actions = actions.argmin(dim=1).cpu().numpy()
        if epsilon > 0:
            explore = self.rng.random(len(batch)) < epsilon
            actions[explore] = self.rng.integers(self.num_actions, size=int(explore.sum()))
        return int(actions[0]) if single else actions

    def solve_rate(self, depths: Iterable[int], states_per_depth: int, rng: np.random.Generator,
                   max_moves: int | None = None) -> dict[int, float]:
        """Fraction of ``states_per_depth`` states scrambled ``depth`` moves that greedy (argmin Q) rollouts solve
        within ``max_moves`` moves (default 2 * depth, at least 1). All states of a depth roll out as one batch."""
        rates = {}
        for depth in depths:
            states = self.puzzle.scramble(states_per_depth, int(depth), rng)
            solved = self.puzzle.is_goal(states)
            for _ in range(max_moves if max_moves is not None else max(1, 2 * int(depth))):
                active = np.flatnonzero(~solved)
                if not len(active):
                    break
                actions = self.q_values(states[active]).argmin(dim=1).cpu().numpy()
                states[active], _ = self.puzzle.next_states(states[active], actions)
                solved[active] = self.puzzle.is_goal(states[active])
            rates[int(depth)] = float(solved.mean())
        return rates

    # -- state ----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimiser, exploration RNG and the update count: tensors and plain data only."""
        return {**agent_state(self), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; RuntimeError on an architecture mismatch (the caller explains)."""
        load_agent_state(self, state)
        self.updates = int(state.get("updates", 0))  # checkpoints before mixed targets had no count
        self.online.eval()
        self.target.eval()

    def forward(self, network: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """``network(inputs)`` at the agent's precision (bf16 under autocast: fp32 weights, fp32 outputs)."""
        if self.precision == "fp32":
            return network(inputs)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return network(inputs).float()

    def _forward(self, network: torch.nn.Module, states: np.ndarray) -> torch.Tensor:
        """Q of ``network`` (already in the right mode) on states (N, D) -> (N, A), in chunks of INFERENCE_CHUNK."""
        parts = [self.critic.q_values(self.forward(network, self.puzzle.encode(states[i:i + INFERENCE_CHUNK],
                                                                                self.device)))
                 for i in range(0, len(states), INFERENCE_CHUNK)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _precision(agent: QStarAgent) -> str:
    """``agent.precision`` for a cost-to-go network: auto is bf16 wherever the device has bf16 hardware (its
    batches are thousands of states through wide layers, where bf16 pays), fp32 elsewhere; an explicit bf16
    without that hardware is refused as for the DQN family (``choose_precision``)."""
    if agent.config.precision == "auto":
        return "bf16" if bf16_native(agent.device) else "fp32"
    return choose_precision(agent)


def build_puzzle(puzzle_config: PuzzleConfig) -> Any:
    """The puzzle a ``puzzle`` config section names (sliding_tile size n, cube3 [meta_actions], lights_out size n)."""
    from rlkit.envs.puzzles.cube3 import Cube3
    from rlkit.envs.puzzles.lights_out import LightsOut
    from rlkit.envs.puzzles.sliding_tile import SlidingTile

    name = puzzle_config.name
    if name == "sliding_tile":
        return SlidingTile(puzzle_config.size)
    if name == "cube3":
        return Cube3(meta_actions=puzzle_config.meta_actions)
    if name == "lights_out":
        return LightsOut(puzzle_config.size)
    raise ConfigError("config field 'puzzle.name': the qstar agent needs a puzzle (sliding_tile, cube3 or "
                      "lights_out); set puzzle.name")


def load_qstar_agent(path: str | Path, device: torch.device | str = "cpu") -> QStarAgent:
    """Rebuild a trained Q* agent from a checkpoint (``{"agent": state_dict, "config": dict, ...}``) on ``device``.

    Raises CheckpointError naming the file when it is not a puzzle checkpoint or its weights do not fit.
    """
    from rlkit.training.checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    config = config_from_dict(payload["config"])
    if config.puzzle.name is None:
        raise CheckpointError(f"checkpoint '{payload['path']}' was not trained on a puzzle (puzzle.name is unset); "
                              "pass a checkpoint of a qstar run")
    agent = QStarAgent(config, build_puzzle(config.puzzle), device=device)
    try:
        agent.load_state_dict(payload["agent"])
    except (RuntimeError, KeyError, ValueError) as error:
        raise CheckpointError(f"checkpoint '{payload['path']}' does not fit its own config's network "
                              f"({str(error).splitlines()[0][:200]})") from None
    return agent
