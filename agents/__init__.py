"""rlkit agents."""
