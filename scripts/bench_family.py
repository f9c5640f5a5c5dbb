"""Peer check of the DQN family: rlkit's QR-DQN against sb3-contrib's QR-DQN, identical hyperparameters, one run.

Both train with RL-Baselines3-Zoo's tuned QR-DQN settings (hyperparams/qrdqn.yml) for CartPole-v1 and Acrobot-v1,
alternating library order from seed to seed (so the machine's drift falls on both), and the script prints env steps/s of
each, the median of the per-seed ratios, and each agent's final greedy return over 20 episodes with the same evaluation
seeds. Each run has a fresh process of its own (scripts/isolated.py), so what rlkit sets process-wide (``allocator:
retain``, threads) never reaches sb3-contrib's run. Both run at one torch thread (rlkit's own choice for these networks;
for SB3 it is faster than its default on this kind of machine, so the comparison does not handicap it).

    python scripts/bench_family.py                         # both envs, 3 seeds
    python scripts/bench_family.py --envs CartPole-v1 --seeds 5
    python scripts/bench_family.py --envs Acrobot-v1 --seeds 4 --first-seed 2   # seeds 2-5, after a --seeds 2 run
    python scripts/bench_family.py --floor                 # rlkit's update against a bare PyTorch one, no env

``--floor`` times rlkit's ``agent.update`` (on the path ``agent.compile=auto`` picks, and eager) on a fixed batch
against the same arithmetic in a plain PyTorch loop
(forward of online and target networks, quantile Huber loss, backward, fused Adam; no replay, no env), alternating,
for each env's network, batch and quantiles: how much of an update is rlkit's and how much the arithmetic's.

What is matched, beyond the zoo's numbers: sb3-contrib's Adam epsilon (0.01 / batch size, its QR-DQN default), no
gradient clipping (its default), quantile Huber loss with kappa 1 summed over quantiles, and a hard target copy
every ``target_update_interval`` env steps. One difference is left: Acrobot's zoo entry starts learning at step 0,
which SB3 does by sampling a batch of 128 with replacement from fewer transitions; rlkit waits until the replay holds
one batch (128 steps).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from isolated import in_own_process  # noqa: E402
from rlkit.config import load_config  # noqa: E402
from rlkit.run import train  # noqa: E402
from rlkit.training.evaluate import load_agent, run_episodes  # noqa: E402

# rl-baselines3-zoo, hyperparams/qrdqn.yml ("Tuned"); gradient_steps -1 means one update per env step collected.
ZOO = {
    "CartPole-v1": dict(steps=50_000, lr=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1_000,
                        gamma=0.99, target_update=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                        exploration_final_eps=0.04, net_arch=[256, 256], quantiles=10),
    "Acrobot-v1": dict(steps=100_000, lr=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0,
                       gamma=0.99, target_update=250, train_freq=4, gradient_steps=-1, exploration_fraction=0.12,
                       exploration_final_eps=0.1, net_arch=[256, 256], quantiles=25),
}
EVAL_EPISODES = 20
EVAL_SEED = 10_000


def greedy_return(env_id: str, act) -> tuple[float, float]:
    """Mean and std of the greedy return over EVAL_EPISODES episodes with fixed seeds, for any act(obs) -> int."""
    env = gym.make(env_id)

    class Policy:
        def act(self, obs, epsilon=0.0):
            return act(obs)

    returns, _ = run_episodes(Policy(), env, EVAL_EPISODES, seed=EVAL_SEED)
    env.close()
    return float(returns.mean()), float(returns.std())


def run_rlkit(env_id: str, seed: int, workdir: Path, steps: int) -> dict:
    z = ZOO[env_id]
    gradient_steps = z["train_freq"] if z["gradient_steps"] == -1 else z["gradient_steps"]
    overrides = [
        f"env.id={env_id}", "agent.name=dqn", "agent.n_step=1", f"agent.gamma={z['gamma']}", f"agent.lr={z['lr']}",
        f"agent.adam_eps={0.01 / z['batch_size']}", "agent.max_grad_norm=null", "agent.tau=1.0",
        f"agent.target_period={z['target_update']}", "agent.critic.type=qr",
        f"agent.critic.quantiles={z['quantiles']}", "agent.critic.kappa=1.0", f"agent.net.hidden={z['net_arch']}",
        f"replay.capacity={z['buffer_size']}", f"replay.batch_size={z['batch_size']}",
        "exploration.start=1.0", f"exploration.end={z['exploration_final_eps']}",
        f"exploration.fraction={z['exploration_fraction']}", f"train.total_steps={steps}",
        f"train.learning_starts={z['learning_starts']}", f"train.train_freq={z['train_freq']}",
        f"train.gradient_steps={gradient_steps}", "train.eval_every=0", "train.checkpoint_every=0",
        "train.eval_episodes=1", "train.log_every=1000", f"seed={seed}", "device=cpu", "threads=1",
        f"run_dir={workdir / f'rlkit_{env_id}_{seed}'}",
    ]
    result = train(load_config(ROOT / "configs" / "cartpole_qr.yaml", overrides), progress=False)
    agent = load_agent(result.checkpoint)
    mean, std = greedy_return(env_id, agent.act)
    return {"seconds": result.seconds - result.eval_seconds, "updates": result.updates, "return": mean, "std": std}


def run_sb3(env_id: str, seed: int, steps: int) -> dict:
    from sb3_contrib import QRDQN

    z = ZOO[env_id]
    torch.set_num_threads(1)
    model = QRDQN("MlpPolicy", env_id, learning_rate=z["lr"], batch_size=z["batch_size"],
                  buffer_size=z["buffer_size"], learning_starts=z["learning_starts"], gamma=z["gamma"],
                  target_update_interval=z["target_update"], train_freq=z["train_freq"],
                  gradient_steps=z["gradient_steps"], exploration_fraction=z["exploration_fraction"],
                  exploration_final_eps=z["exploration_final_eps"],
                  policy_kwargs={"net_arch": z["net_arch"], "n_quantiles": z["quantiles"]}, seed=seed, device="cpu",
                  verbose=0)
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - started
    mean, std = greedy_return(env_id, lambda obs: int(model.predict(obs, deterministic=True)[0]))
    return {"seconds": seconds, "updates": model._n_updates, "return": mean, "std": std}


def floor(env_id: str, rounds: int = 3, updates: int = 300) -> dict[str, float]:
    """Median ms per update of rlkit's QR-DQN update on the path ``agent.compile=auto`` picks (fused for these
    MLPs), on the eager path, and of a bare PyTorch one (same shapes), alternating rounds. -> {name: ms}."""
    from rlkit.agents.registry import build_agent
    from rlkit.critics import quantile_huber_loss
    from rlkit.replay import Batch

    z = ZOO[env_id]
    env = gym.make(env_id)
    obs_dim, actions = env.observation_space.shape[0], int(env.action_space.n)
    batch, n = z["batch_size"], z["quantiles"]
    env.close()
    torch.set_num_threads(1)
    agents = {}
    for name, setting in (("rlkit", "auto"), ("rlkit eager", "off")):
        config = load_config(None, ["agent.name=dqn", "agent.critic.type=qr", f"agent.critic.quantiles={n}",
                                    "agent.max_grad_norm=null", f"agent.net.hidden={z['net_arch']}",
                                    f"agent.compile={setting}"])
        agents[name] = build_agent(config, (obs_dim,), "float32", actions, torch.device("cpu"))
    rng = np.random.default_rng(0)
    fixed = Batch(obs=rng.normal(size=(batch, obs_dim)).astype(np.float32), actions=rng.integers(actions, size=batch),
                  returns=np.ones(batch, np.float32), discounts=np.full(batch, 0.99, np.float32),
                  next_obs=rng.normal(size=(batch, obs_dim)).astype(np.float32), indices=np.arange(batch),
                  weights=np.ones(batch, np.float32))

    def mlp() -> torch.nn.Module:
        layers, width = [], obs_dim
        for size in z["net_arch"]:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            width = size
        return torch.nn.Sequential(*layers, torch.nn.Linear(width, actions * n))

    online, target = mlp(), mlp()
    optimizer = torch.optim.Adam(online.parameters(), lr=z["lr"], fused=True)
    obs, next_obs = torch.as_tensor(fixed.obs), torch.as_tensor(fixed.next_obs)
    taken, rows = torch.as_tensor(fixed.actions), torch.arange(batch)
    rewards, discounts = torch.ones(batch), torch.full((batch,), 0.99)
    fractions = (2 * torch.arange(n, dtype=torch.float32) + 1) / (2 * n)

    def bare() -> None:
        with torch.no_grad():
            next_q = target(next_obs).view(batch, actions, n)
            y = rewards[:, None] + discounts[:, None] * next_q[rows, next_q.mean(2).argmax(1)]
        predicted = online(obs).view(batch, actions, n)[rows, taken]
        loss = quantile_huber_loss(predicted, y, fractions).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    steps = {name: (lambda agent=agent: agent.update(fixed)) for name, agent in agents.items()}
    steps["bare"] = bare
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(20):
                step()
            started = time.perf_counter()
            for _ in range(updates):
                step()
            times[name].append((time.perf_counter() - started) / updates * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(ZOO), choices=list(ZOO))
    parser.add_argument("--seeds", type=int, default=3, help="seeds per env (--first-seed, the next, ...)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (to add seeds to an earlier run)")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="fraction of the zoo's budget (smoke runs)")
    parser.add_argument("--floor", action="store_true", help="time rlkit's update against a bare PyTorch one")
    args = parser.parse_args()
    if args.floor:
        print("| env | batch | quantiles | rlkit update (auto path), ms | rlkit eager update, ms | "
              "bare PyTorch update, ms | rlkit / bare |")
        print("|---|---|---|---|---|---|---|")
        for env_id in args.envs:
            ms = floor(env_id)
            z = ZOO[env_id]
            print(f"| {env_id} | {z['batch_size']} | {z['quantiles']} | {ms['rlkit']:.2f} | {ms['rlkit eager']:.2f} | "
                  f"{ms['bare']:.2f} | {ms['rlkit'] / ms['bare']:.2f}x |")
        return
    rows: dict[str, dict[str, list[dict]]] = {env: {"rlkit": [], "sb3": []} for env in args.envs}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for env_id in args.envs:
                steps = max(int(ZOO[env_id]["steps"] * args.steps_scale), 1_000)
                order = ("rlkit", "sb3") if seed % 2 == 0 else ("sb3", "rlkit")
                for name in order:
                    row = (in_own_process(run_rlkit, env_id, seed, Path(tmp), steps) if name == "rlkit" else
                           in_own_process(run_sb3, env_id, seed, steps))
                    row["steps_per_second"] = steps / row["seconds"]
                    rows[env_id][name].append(row)
                    print(f"{env_id} seed {seed} {name}: {row['steps_per_second']:,.0f} steps/s, "
                          f"return {row['return']:.1f}", file=sys.stderr, flush=True)
    last = args.first_seed + args.seeds - 1
    seeds = f"seeds {args.first_seed}-{last}" if args.seeds > 1 else f"seed {args.first_seed}"
    print(f"\nQR-DQN, RL-Zoo hyperparameters, {seeds}, torch {torch.__version__}, 1 thread each\n")
    print("| env | library | updates | env steps/s (median) | rlkit / sb3-contrib (median of pairs) | "
          "greedy return, 20 ep: mean over seeds (per seed) |")
    print("|---|---|---|---|---|---|")
    for env_id in args.envs:
        ratios = [a["steps_per_second"] / b["steps_per_second"]
                  for a, b in zip(rows[env_id]["rlkit"], rows[env_id]["sb3"])]
        for name, label in (("rlkit", "rlkit"), ("sb3", "sb3-contrib")):
            runs = rows[env_id][name]
            per_seed = ", ".join(f"{run['return']:.0f}" for run in runs)
            ratio = f"{statistics.median(ratios):.2f}x" if name == "rlkit" else "1.00x"
            print(f"| {env_id} | {label} | {np.mean([run['updates'] for run in runs]):,.0f} | "
                  f"{statistics.median(run['steps_per_second'] for run in runs):,.0f} | {ratio} | "
                  f"{np.mean([run['return'] for run in runs]):.1f} ({per_seed}) |")


if __name__ == "__main__":
    main()
