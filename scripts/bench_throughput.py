"""Training throughput of rlkit DQN vs Stable-Baselines3 DQN on CartPole-v1, and rlkit's sample efficiency.

Default mode: both libraries train with RL-Zoo's tuned CartPole-v1 DQN hyperparameters, alternating, each run in a fresh
process of its own (so what one library sets process-wide, torch threads or rlkit's ``allocator``, never reaches the
other's run), and the script prints env steps/s for each, their ratio, and each agent's final greedy return over 20
episodes. It also measures the compute floor in the same run: the same number of gradient updates (same network, batch,
optimiser and clipping as rlkit) and batch-1 greedy action selections in plain PyTorch, with no env, no replay and no
bookkeeping. rlkit's time over the floor's is the overhead it adds to the arithmetic. rlkit runs twice per round: with
its default update path (agent.compile=auto, the fused MLP update) and with eager autograd (agent.compile=off). The last
row is the bare arithmetic: the floor's FLOPs (torch's FLOP counter) at this machine's measured fp32 GEMM rate, the time
no implementation of these updates can beat. Each figure is the median over rounds.

    python scripts/bench_throughput.py                 # 50k steps, one round
    python scripts/bench_throughput.py --rounds 2      # alternate rlkit, SB3, floor twice

``--atari`` mode: the same comparison on ALE/Pong-v5 with the Nature CNN (batch 32, one update every 4 env steps
after learning starts, Adam, Huber, sticky actions, no episodic life for both): collection-only steps/s (before
learning starts) and training steps/s for rlkit (native ale-py vector env, ``--atari-envs`` games at once) and SB3
(its AtariWrapper, one env), and the floor: the same number of updates and batch-1 action selections in plain
PyTorch. On a CPU, rlkit also runs with ``allocator=system`` (glibc's defaults, as the peer and the floor have):
the row shows what retaining freed memory (rlkit/allocator.py) is worth in the loop. The last column is the run's
minor page faults (fresh 4 KB pages written, collection and replay fill included) per update.

    python scripts/bench_throughput.py --atari --atari-envs 4
    python scripts/bench_throughput.py --atari --device cuda     # the same on a GPU, plus a CUDA-graph row

``--solve`` mode: env steps rlkit's own configs/cartpole_dqn.yaml needs until a greedy evaluation (10 episodes,
every 1,000 steps) reaches a mean return of 475, for several seeds.

    python scripts/bench_throughput.py --solve --seeds 5
"""

from __future__ import annotations

import argparse
import resource
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

from arithmetic import flops_of, gemm_rate  # noqa: E402
from isolated import in_own_process  # noqa: E402
from rlkit.config import load_config  # noqa: E402
from rlkit.training.evaluate import load_agent, run_episodes  # noqa: E402
from rlkit.run import train  # noqa: E402

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


def run_rlkit(steps: int, seed: int, workdir: Path, update_path: str = "auto") -> dict:
    config = load_config(ROOT / "configs" / "cartpole_dqn.yaml",
                         [*rlkit_zoo_overrides(steps, seed, workdir / f"rlkit_{update_path}"),
                          f"agent.compile={update_path}"])
    result = train(config, progress=False)
    seconds = result.seconds - result.eval_seconds
    agent = load_agent(result.checkpoint)
    return {"seconds": seconds, "steps": result.steps, "updates": result.updates,
            "return": greedy_return(agent.act), "threads": torch.get_num_threads()}


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


def floor_pieces(seed: int):
    """The floor's two operations as closures: one DQN gradient step (RL-Zoo's network, batch, fused Adam and
    clipping) and one batch-1 greedy action, on fixed tensors."""
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

    def update():
        with torch.no_grad():
            y = rewards + discounts * target(next_obs).max(1).values
        q = online(obs).gather(1, actions_taken[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), ZOO["max_grad_norm"])
        optimizer.step()

    @torch.inference_mode()
    def act():
        return online(torch.from_numpy(single)).argmax(1).item()

    return update, act


def run_floor(updates: int, actions: int, seed: int) -> dict:
    """Plain PyTorch: ``updates`` DQN gradient steps and ``actions`` batch-1 greedy forwards, nothing else."""
    update, act = floor_pieces(seed)
    started = time.perf_counter()
    for _ in range(updates):
        update()
    for _ in range(actions):
        act()
    return {"seconds": time.perf_counter() - started, "steps": actions, "updates": updates, "return": float("nan")}


def arithmetic_seconds(updates: int, actions: int) -> tuple[float, float, float]:
    """(seconds, MFLOP per update, GFLOP/s): the floor's counted FLOPs at this machine's measured fp32 GEMM rate."""
    update, act = floor_pieces(0)
    per_update, per_action = flops_of(update), flops_of(act)
    rate = gemm_rate(torch.float32)
    return (updates * per_update + actions * per_action) / rate, per_update / 1e6, rate / 1e9


def throughput(args: argparse.Namespace) -> None:
    rows: dict[str, list[dict]] = {"rlkit": [], "rlkit_eager": [], "sb3": [], "floor": []}
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            workdir = Path(tmp) / f"round{round_index}"
            rows["rlkit"].append(in_own_process(run_rlkit, args.steps, args.seed + round_index, workdir))
            rows["rlkit_eager"].append(in_own_process(run_rlkit, args.steps, args.seed + round_index, workdir, "off"))
            rlkit_threads = rows["rlkit"][-1]["threads"]  # what rlkit's `threads: auto` chose
            rows["sb3"].append(in_own_process(run_sb3, args.steps, args.seed + round_index))
            rows["floor"].append(run_floor(rows["rlkit"][-1]["updates"], args.steps, args.seed))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    arithmetic = arithmetic_seconds(int(np.mean([row["updates"] for row in rows["rlkit"]])), args.steps)

    def mean(name: str, key: str) -> float:  # the median over rounds (the VM drifts between minutes)
        return float(np.median([row[key] for row in rows[name]]))

    rows["arithmetic"] = [{"seconds": arithmetic[0], "updates": mean("rlkit", "updates"), "return": float("nan")}]
    sps = {name: args.steps / mean(name, "seconds") for name in rows}
    print(f"\nCartPole-v1 DQN, RL-Zoo hyperparameters, {args.steps:,} env steps, median of {args.rounds} round(s), "
          f"torch {torch.__version__}; rlkit {rlkit_threads} torch thread(s) (threads: auto), SB3 and the floor "
          f"{default_threads} (torch's default); bare arithmetic: {arithmetic[1]:.1f} MFLOP "
          f"per update at {arithmetic[2]:.0f} GFLOP/s (fp32 1024^3 GEMM, measured after the runs)\n")
    print("| run | updates | seconds | env steps/s | vs SB3 | time vs floor | greedy return, 20 ep (per round) |")
    print("|---|---|---|---|---|---|---|")
    for name, label in (("rlkit", "rlkit DQN (agent.compile=auto: fused update)"),
                        ("rlkit_eager", "rlkit DQN (agent.compile=off: eager autograd)"), ("sb3", "SB3 DQN"), ("floor", "compute floor (plain PyTorch)"),
                        ("arithmetic", "bare arithmetic (the floor's FLOPs at the measured GEMM peak)")):
        per_round = ", ".join(f"{row['return']:.0f}" for row in rows[name])
        ret = "—" if name in ("floor", "arithmetic") else f"{mean(name, 'return'):.1f} ({per_round})"
        print(f"| {label} | {mean(name, 'updates'):,.0f} | {mean(name, 'seconds'):.1f} | {sps[name]:,.0f} | "
              f"{sps[name] / sps['sb3']:.2f}x | {mean(name, 'seconds') / mean('floor', 'seconds'):.2f}x | {ret} |")


ATARI = dict(env_id="ALE/Pong-v5", lr=1e-4, batch_size=32, buffer_size=100_000, train_freq=4, gamma=0.99,
             target_update=1_000, exploration_fraction=0.1, exploration_final_eps=0.01, max_grad_norm=10.0)


def atari_rlkit(args: argparse.Namespace, workdir: Path, precision: str = "auto", update_path: str = "auto",
                allocator: str = "retain") -> dict:
    a = ATARI
    config = load_config(ROOT / "configs" / "atari_dqn.yaml", [
        f"env.id={a['env_id']}", f"env.num_envs={args.atari_envs}", "agent.name=dqn", "agent.n_step=1",
        f"agent.lr={a['lr']}", "agent.adam_eps=1e-8", f"agent.target_period={a['target_update']}",
        f"replay.capacity={a['buffer_size']}", f"replay.batch_size={a['batch_size']}",
        f"exploration.fraction={a['exploration_fraction']}", f"exploration.end={a['exploration_final_eps']}",
        f"train.total_steps={args.atari_steps}", f"train.learning_starts={args.atari_learning_starts}",
        f"train.train_freq={a['train_freq']}", "train.gradient_steps=1", "train.eval_every=0",
        "train.checkpoint_every=0", "train.eval_episodes=1", "train.log_every=1000", f"device={args.device}",
        f"seed={args.seed}", f"run_dir={workdir / f'atari_{precision}_{update_path}_{allocator}'}",
        f"threads={args.atari_threads}", f"agent.precision={precision}", f"agent.compile={update_path}",
        f"allocator={allocator}",
    ])
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    result = train(config, progress=False)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    precision = load_agent(result.checkpoint).precision  # what auto resolved to
    train_seconds = result.seconds - result.eval_seconds - result.warmup_seconds
    return {"collect_sps": result.warmup_steps / result.warmup_seconds,
            "train_sps": (result.steps - result.warmup_steps) / train_seconds,
            "updates": result.updates, "train_steps": result.steps - result.warmup_steps, "precision": precision,
            "updates_per_s": result.updates / train_seconds, "faults_per_update": faults / max(result.updates, 1)}


def atari_sb3(args: argparse.Namespace) -> dict:
    import ale_py
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    a = ATARI
    gym.register_envs(ale_py)  # this process has not imported rlkit's Atari support, which registers the ids

    class Clock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.warmup_end = None

        def _on_step(self) -> bool:
            if self.warmup_end is None and self.num_timesteps >= args.atari_learning_starts:
                self.warmup_end = time.perf_counter()
            return True

    env = make_atari_env(a["env_id"], n_envs=1, seed=args.seed,
                         env_kwargs={"frameskip": 1, "repeat_action_probability": 0.25},
                         wrapper_kwargs={"terminal_on_life_loss": False, "noop_max": 30, "frame_skip": 4})
    env = VecFrameStack(env, n_stack=4)
    model = DQN("CnnPolicy", env, learning_rate=a["lr"], batch_size=a["batch_size"], buffer_size=a["buffer_size"],
                learning_starts=args.atari_learning_starts, train_freq=a["train_freq"], gradient_steps=1,
                gamma=a["gamma"], target_update_interval=a["target_update"],
                exploration_fraction=a["exploration_fraction"], exploration_final_eps=a["exploration_final_eps"],
                max_grad_norm=a["max_grad_norm"], optimize_memory_usage=False, seed=args.seed, device=args.device,
                verbose=0)
    clock = Clock()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    model.learn(total_timesteps=args.atari_steps, callback=clock)
    ended = time.perf_counter()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    env.close()
    return {"collect_sps": args.atari_learning_starts / (clock.warmup_end - started),
            "train_sps": (args.atari_steps - args.atari_learning_starts) / (ended - clock.warmup_end),
            "updates": model._n_updates, "train_steps": args.atari_steps - args.atari_learning_starts,
            "updates_per_s": model._n_updates / (ended - clock.warmup_end),
            "faults_per_update": faults / max(model._n_updates, 1)}


def atari_env_ceiling(args: argparse.Namespace, steps: int) -> float:
    """Env steps/s of ale-py's native vector env alone (``--atari-envs`` games, random actions, rlkit's settings):
    what collection would reach with no policy, no replay and no loop around it."""
    from rlkit.config import AtariConfig
    from rlkit.vec import make_vec_env

    env = make_vec_env(ATARI["env_id"], args.atari_envs, args.seed, atari=AtariConfig())
    env.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    actions = rng.integers(env.num_actions, size=(steps // env.num_envs + 1, env.num_envs))
    started = time.perf_counter()
    for row in actions:
        env.step(row)
    seconds = time.perf_counter() - started
    env.close()
    return actions.size / seconds


def atari_floor(updates: int, actions: int, device: str = "cpu") -> float:
    """Seconds for ``updates`` Nature-CNN DQN updates (batch 32) and ``actions`` batch-1 greedy forwards."""
    from rlkit.nets import NatureCNN

    def network():
        torso = NatureCNN((4, 84, 84))
        return torch.nn.Sequential(torso, torch.nn.Linear(512, 6))

    online, target = network().to(device), network().to(device)
    optimizer = torch.optim.Adam(online.parameters(), lr=ATARI["lr"], fused=True)
    obs = torch.randint(0, 255, (32, 4, 84, 84), dtype=torch.uint8, device=device)
    next_obs = torch.randint(0, 255, (32, 4, 84, 84), dtype=torch.uint8, device=device)
    taken = torch.randint(6, (32,), device=device)
    rewards, discounts = torch.ones(32, device=device), torch.full((32,), 0.99, device=device)
    single = torch.zeros(1, 4, 84, 84, dtype=torch.uint8)  # from the host, as an env hands it
    started = time.perf_counter()
    for _ in range(updates):
        with torch.no_grad():
            y = rewards + discounts * target(next_obs).max(1).values
        q = online(obs).gather(1, taken[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online.parameters(), ATARI["max_grad_norm"])
        optimizer.step()
    with torch.inference_mode():
        for _ in range(actions):
            online(single.to(device)).argmax(1).item()
    if device != "cpu":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def device_name(device: str) -> str:
    """The device as the table's header names it: the GPU's name on CUDA."""
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return "cpu"


def _median_row(rows: list[dict]) -> dict:
    """Per-key medians of one configuration's rounds (numbers), the first round's value otherwise."""
    return {key: (float(np.median([row[key] for row in rows])) if isinstance(value, (int, float)) else value)
            for key, value in rows[0].items()}


def atari(args: argparse.Namespace) -> None:
    default_threads = torch.get_num_threads()
    rounds: dict[str, list[dict]] = {"ours": [], "fp32": [], "system": [], "graphed": [], "sb3": []}
    cpu = not args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):  # alternate every configuration, then take medians
            workdir = Path(tmp) / f"round{index}"
            rounds["ours"].append(in_own_process(atari_rlkit, args, workdir))
            if rounds["ours"][-1]["precision"] != "fp32":
                rounds["fp32"].append(in_own_process(atari_rlkit, args, workdir, "fp32"))
            if cpu:
                rounds["system"].append(in_own_process(atari_rlkit, args, workdir, "auto", "auto", "system"))
            else:
                rounds["graphed"].append(in_own_process(atari_rlkit, args, workdir, "auto", "cuda_graph"))
            rounds["sb3"].append(in_own_process(atari_sb3, args))
            print(f"round {index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    ours, theirs = _median_row(rounds["ours"]), _median_row(rounds["sb3"])
    ours_fp32 = _median_row(rounds["fp32"]) if rounds["fp32"] else None
    system = _median_row(rounds["system"]) if rounds["system"] else None
    graphed = _median_row(rounds["graphed"]) if rounds["graphed"] else None
    for row in (ours, theirs, ours_fp32, system, graphed):
        if row is not None:
            row["updates"] = int(row["updates"])
    floor_seconds = atari_floor(ours["updates"], int(ours["train_steps"]), args.device)
    floor_sps = ours["train_steps"] / floor_seconds
    ceiling_sps = atari_env_ceiling(args, args.atari_learning_starts)
    print(f"\nALE/Pong-v5, Nature CNN DQN, {args.atari_steps:,} env steps ({args.atari_learning_starts:,} collection "
          f"only), rlkit with {args.atari_envs} envs and {args.atari_threads or default_threads} torch threads, SB3 "
          f"and the floor with 1 env and {default_threads}, torch {torch.__version__}, device {device_name(args.device)}; "
          f"medians of {args.rounds} alternating round(s)\n")
    print("| run | collection-only steps/s | training steps/s | updates | updates/s | training vs SB3 | "
          "training vs floor | page faults per update |")
    print("|---|---|---|---|---|---|---|---|")
    runs = [(f"rlkit DQN (agent.precision=auto: {ours['precision']})", ours)]
    if ours_fp32 is not None:
        runs.append(("rlkit DQN (agent.precision=fp32)", ours_fp32))
    if system is not None:
        runs.append((f"rlkit DQN (allocator=system, precision {system['precision']})", system))
    if graphed is not None:
        runs.append(("rlkit DQN (agent.compile=cuda_graph)", graphed))
    for label, row in (*runs, ("SB3 DQN", theirs)):
        print(f"| {label} | {row['collect_sps']:,.0f} | {row['train_sps']:,.0f} | {row['updates']:,} | "
              f"{row['updates_per_s']:,.1f} | "
              f"{row['train_sps'] / theirs['train_sps']:.2f}x | {row['train_sps'] / floor_sps:.2f}x | "
              f"{row['faults_per_update']:,.0f} |")
    print(f"| compute floor (plain PyTorch, fp32) | — | {floor_sps:,.0f} | {ours['updates']:,} | "
          f"{ours['updates'] / floor_seconds:,.1f} | "
          f"{floor_sps / theirs['train_sps']:.2f}x | 1.00x | — |")
    print(f"| ale-py vector env alone ({args.atari_envs} envs, random actions) | {ceiling_sps:,.0f} | — | — | — | — "
          "| — | — |")
    if args.rounds > 1:
        print("\nper round, training steps/s (vs that round's SB3):")
        for label, key in (("rlkit auto", "ours"), ("rlkit fp32", "fp32"), ("rlkit allocator=system", "system"),
                           ("rlkit cuda_graph", "graphed"), ("SB3", "sb3")):
            if rounds[key]:
                print(f"  {label}: " + ", ".join(f"{row['train_sps']:,.0f} ({row['train_sps'] / peer['train_sps']:.2f}x)"
                                                 for row, peer in zip(rounds[key], rounds["sb3"])))
    print(f"\ncollection-only: rlkit {ours['collect_sps'] / theirs['collect_sps']:.2f}x SB3; the env alone "
          f"{ceiling_sps / theirs['collect_sps']:.2f}x SB3 (measured last, in the same process)")


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
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternating rounds of rlkit, SB3 (and the floor in CartPole mode); medians reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solve", action="store_true", help="measure env steps to greedy return 475 instead")
    parser.add_argument("--atari", action="store_true", help="compare on ALE/Pong-v5 with the Nature CNN instead")
    parser.add_argument("--atari-envs", type=int, default=4, help="rlkit's parallel games in --atari mode")
    parser.add_argument("--device", default="cpu",
                        help="--atari mode: cpu or cuda[:N] for rlkit, SB3 and the floor alike (cuda adds an "
                             "agent.compile=cuda_graph row)")
    parser.add_argument("--atari-threads", type=int, default=0,
                        help="rlkit's torch threads in --atari mode (0: torch's default)")
    parser.add_argument("--atari-steps", type=int, default=12_000, help="env steps per run in --atari mode")
    parser.add_argument("--atari-learning-starts", type=int, default=6_000, help="collection-only env steps")
    parser.add_argument("--seeds", type=int, default=5, help="seeds in --solve mode")
    parser.add_argument("--budget", type=int, default=50_000, help="env-step budget per seed in --solve mode")
    args = parser.parse_args()
    if args.solve:
        solve(args)
    elif args.atari:
        atari(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
