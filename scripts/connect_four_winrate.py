"""Win / draw / loss rates of a Connect Four checkpoint against rlkit/ConnectFour-v0's opponents, as a table.

    python scripts/connect_four_winrate.py runs/connect_four_dqn/checkpoints/final.pt --games 100

Each opponent (random, leftmost) plays ``--games`` games, half with the agent moving first, seeded 0, 1, ...; the
agent acts greedily through the same legal-action mask it trained with. A uniformly random legal player is the
baseline row.
"""

from __future__ import annotations

import argparse

import numpy as np

from rlkit import load_agent
from rlkit.vec import make_env


def play(agent, opponent: str, games: int) -> tuple[float, float, float]:
    """(win, draw, loss) fractions over ``games`` games; ``agent`` None plays uniformly random legal columns."""
    outcomes = []
    rng = np.random.default_rng(0)
    for first in (True, False):
        env = make_env("rlkit/ConnectFour-v0", env_kwargs={"opponent": opponent, "agent_first": first})
        for game in range(games // 2):
            obs, _ = env.reset(seed=game)
            done, reward = False, 0.0
            while not done:
                action = (int(rng.choice(np.flatnonzero(obs["action_mask"]))) if agent is None else agent.act(obs))
                obs, reward, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
            outcomes.append(np.sign(reward))
        env.close()
    outcomes = np.asarray(outcomes)
    return float(np.mean(outcomes > 0)), float(np.mean(outcomes == 0)), float(np.mean(outcomes < 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--games", type=int, default=100)
    args = parser.parse_args()
    agent = load_agent(args.checkpoint)
    print(f"| player | opponent | games | win | draw | loss |\n|---|---|---|---|---|---|")
    for name, player in (("rlkit DQN (masked)", agent), ("random legal", None)):
        for opponent in ("random", "leftmost"):
            win, draw, loss = play(player, opponent, args.games)
            print(f"| {name} | {opponent} | {args.games} | {win:.0%} | {draw:.0%} | {loss:.0%} |")


if __name__ == "__main__":
    main()
