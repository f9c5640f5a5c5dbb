"""Training throughput of rlkit DQN vs Stable-Baselines3 DQN on CartPole-v1, and rlkit's sample efficiency.

Default mode: both libraries train with RL-Zoo's tuned CartPole-v1 DQN hyperparameters, alternating in one
process, and the script prints env steps/s for each, their ratio, and each agent's final greedy return over 20
episodes. It also measures the compute floor in the same run: the same number of gradient updates (same network,
batch, optimiser and clipping as rlkit) and batch-1 greedy action selections in plain PyTorch, with no env, no
replay and no bookkeeping. rlkit's time over the floor's is the overhead it adds to the arithmetic.

    python scripts/bench_throughput.py                 # 50k steps, one round
    python scripts/bench_throughput.py --rounds 2      # alternate rlkit, SB3, floor twice

``--solve`` mode: env steps rlkit's own configs/cartpole_dqn.yaml needs until a greedy evaluation (10 episodes,
every 1,000 steps) reaches a mean return of 475, for several seeds.

    python scripts/bench_throughput.py --solve --seeds 5
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
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.config import load_config  # noqa: E402
from rlkit.evaluate import load_agent, run_episodes  # noqa: E402
from rlkit.trainer import train  # noqa: E402

# RL-Zoo's tuned hyperparameters for DQN on CartPole-v1 (rl-baselines3-zoo, hyperparams/dqn.yml).
ZOO = dict(lr=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1_000, gamma=0.99, target_update=10,
           train_freq=256, gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
           net_arch=[256, 256], max_grad_norm=10.0)
EVAL_EPISODES = 20
EVAL_SEED = 10_000


def rlkit_zoo_overrides(steps: int, seed: int, run_dir: Path) -> list[str]:
    z = ZOO
    return [
        "agent.name=dqn", "agent.n_step=1", f"agent.gamma={z['gamma']}", f"agent.lr={z['lr']}",
        f"agent.max_grad_norm={z['max_grad_norm']}", f"agent.target_period={z['target_update']}", "agent.tau=1.0",
        "agent.critic.loss=huber", f"agent.net.hidden={z['net_arch']}",
        f"replay.capacity={z['buffer_size']}", f"replay.batch_size={z['batch_size']}",
        "exploration.start=1.0", f"exploration.end={z['exploration_final_eps']}",
        f"exploration.fraction={z['exploration_fraction']}",
        f"train.total_steps={steps}", f"train.learning_starts={z['learning_starts']}",
        f"train.train_freq={z['train_freq']}", f"train.gradient_steps={z['gradient_steps']}",
        "train.eval_every=0", "train.checkpoint_every=0", "train.eval_episodes=1", "train.log_every=1000",
        f"seed={seed}", "device=cpu", f"run_dir={run_dir}",
    ]


def greedy_return(act, episodes: int = EVAL_EPISODES) -> float:
    """Mean greedy return over ``episodes`` CartPole-v1 episodes with fixed seeds, for any act(obs) -> int."""
    env = gym.make("CartPole-v1")

    class Policy:
        def act(self, obs, epsilon=0.0):
            return act(obs)

    returns, _ = run_episodes(Policy(), env, episodes, seed=EVAL_SEED)
    env.close()
    return float(returns.mean())


def run_rlkit(steps: int, seed: int, workdir: Path) -> dict:
    config = load_config(ROOT / "configs" / "cartpole_dqn.yaml", rlkit_zoo_overrides(steps, seed, workdir / "rlkit"))
    result = train(config, progress=False)
    seconds = result.seconds - result.eval_seconds
    agent = load_agent(result.checkpoint)
    return {"seconds": seconds, "steps": result.steps, "updates": result.updates,
            "return": greedy_return(agent.act)}


def run_sb3(steps: int, seed: int) -> dict:
    from stable_baselines3 import DQN

    z = ZOO
    model = DQN("MlpPolicy", "CartPole-v1", learning_rate=z["lr"], batch_size=z["batch_size"],
                buffer_size=z["buffer_size"], learning_starts=z["learning_starts"], gamma=z["gamma"],
                target_update_interval=z["target_update"], train_freq=z["train_freq"],
                gradient_steps=z["gradient_steps"], exploration_fraction=z["exploration_fraction"],
                exploration_final_eps=z["exploration_final_eps"], max_grad_norm=z["max_grad_norm"],
                policy_kwargs={"net_arch": z["net_arch"]}, seed=seed, device="cpu", verbose=0)
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "steps": steps, "updates": model._n_updates,
            "return": greedy_return(lambda obs: int(model.predict(obs, deterministic=True)[0]))}


def run_floor(updates: int, actions: int, seed: int) -> dict:
    """Plain PyTorch: ``updates`` DQN gradient steps and ``actions`` batch-1 greedy forwards, nothing else."""
    torch.manual_seed(seed)

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(4, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                   torch.nn.ReLU(), torch.nn.Linear(256, 2))

    online, target = mlp(), mlp()
    target.load_state_dict(online.state_dict())
    optimizer = torch.optim.Adam(online.parameters(), lr=ZOO["lr"], fused=True)  # the optimiser rlkit uses
    batch = ZOO["batch_size"]
    obs, next_obs = torch.randn(batch, 4), torch.randn(batch, 4)
    actions_taken, rewards, discounts = torch.randint(2, (batch,)), torch.ones(batch), torch.full((batch,), 0.99)
    single = np.zeros((1, 4), np.float32)
    started = time.perf_counter()
    for _ in range(updates):
        with torch.no_grad():
            y = rewards + discounts * target(next_obs).max(1).values
        q = online(obs).gather(1, actions_taken[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), ZOO["max_grad_norm"])
        optimizer.step()
    with torch.inference_mode():
        for _ in range(actions):
            online(torch.from_numpy(single)).argmax(1).item()
    return {"seconds": time.perf_counter() - started, "steps": actions, "updates": updates, "return": float("nan")}


def throughput(args: argparse.Namespace) -> None:
    rows: dict[str, list[dict]] = {"rlkit": [], "sb3": [], "floor": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            workdir = Path(tmp) / f"round{round_index}"
            rows["rlkit"].append(run_rlkit(args.steps, args.seed + round_index, workdir))
            rows["sb3"].append(run_sb3(args.steps, args.seed + round_index))
            rows["floor"].append(run_floor(rows["rlkit"][-1]["updates"], args.steps, args.seed))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def mean(name: str, key: str) -> float:
        return float(np.mean([row[key] for row in rows[name]]))

    sps = {name: args.steps / mean(name, "seconds") for name in rows}
    print(f"\nCartPole-v1 DQN, RL-Zoo hyperparameters, {args.steps:,} env steps, {args.rounds} round(s), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| run | updates | seconds | env steps/s | vs SB3 | time vs floor | greedy return, 20 ep (per round) |")
    print("|---|---|---|---|---|---|---|")
    for name, label in (("rlkit", "rlkit DQN"), ("sb3", "SB3 DQN"), ("floor", "compute floor (plain PyTorch)")):
        per_round = ", ".join(f"{row['return']:.0f}" for row in rows[name])
        ret = "—" if name == "floor" else f"{mean(name, 'return'):.1f} ({per_round})"
        print(f"| {label} | {mean(name, 'updates'):,.0f} | {mean(name, 'seconds'):.1f} | {sps[name]:,.0f} | "
              f"{sps[name] / sps['sb3']:.2f}x | {mean(name, 'seconds') / mean('floor', 'seconds'):.2f}x | {ret} |")


def solve(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            config = load_config(ROOT / "configs" / "cartpole_dqn.yaml", [
                f"seed={seed}", f"train.total_steps={args.budget}", "train.eval_every=1000", "train.eval_episodes=10",
                "train.target_return=475", "train.checkpoint_every=0", f"run_dir={Path(tmp) / f'seed{seed}'}",
            ])
            result = train(config, progress=False)
            solved = result.stopped_early
            rows.append((seed, result.steps if solved else None, result.eval_mean, result.seconds))
            print(f"seed {seed} done", file=sys.stderr, flush=True)
    print(f"\nconfigs/cartpole_dqn.yaml: env steps until greedy return >= 475 (10 episodes, evaluated every 1,000 "
          f"steps), budget {args.budget:,}\n")
    print("| seed | env steps to 475 | eval return then | wall seconds |")
    print("|---|---|---|---|")
    for seed, steps, ret, seconds in rows:
        shown = f"{steps:,}" if steps is not None else f"not within {args.budget:,}"
        print(f"| {seed} | {shown} | {ret:.1f} | {seconds:.0f} |")
    solved = [steps if steps is not None else float("inf") for _, steps, _, _ in rows]
    median = statistics.median(solved)
    print(f"\nmedian: {median:,.0f} env steps; solved within budget: {sum(s != float('inf') for s in solved)}"
          f"/{len(rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per training run (default 50,000)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of rlkit, SB3, floor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solve", action="store_true", help="measure env steps to greedy return 475 instead")
    parser.add_argument("--seeds", type=int, default=5, help="seeds in --solve mode")
    parser.add_argument("--budget", type=int, default=50_000, help="env-step budget per seed in --solve mode")
    args = parser.parse_args()
    solve(args) if args.solve else throughput(args)


if __name__ == "__main__":
    main()
