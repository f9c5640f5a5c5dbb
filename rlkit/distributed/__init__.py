"""Ape-X style distributed training on Ray (``distributed.num_actors > 0`` in a config).

    rlkit train configs/cartpole_apex.yaml distributed.num_actors=2

Ray is an optional extra (``pip install 'rlkit[distributed]'``); importing this package does not import it, and
``distributed.mode: local`` runs the same roles in one process without it.
"""

from .roles import ActorRole, Chunk, ShardedReplay, actor_epsilon

__all__ = ["ActorRole", "Chunk", "ShardedReplay", "actor_epsilon"]
