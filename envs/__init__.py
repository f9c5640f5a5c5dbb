"""rlkit environments."""
