"""``SumTree``: sums of non-negative priorities over a fixed number of leaves, updated and searched a whole batch at a
time with numpy (what proportional prioritised replay samples from)."""

from __future__ import annotations

import numpy as np


class SumTree:
    """Sums of non-negative priorities over `capacity` leaves, updated and searched for whole batches with numpy.

    Layout: a complete binary tree over `size` = capacity rounded up to a power of two leaves; node 1 is the root,
    node i has children 2i and 2i+1, leaf j is node size + j. An update recomputes each touched parent from its two
    children (never adds deltas), so sums do not drift however many updates run.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._size = 1 << (self.capacity - 1).bit_length()
        self._levels = self._size.bit_length() - 1  # edges from the root to a leaf
        self._tree = np.zeros(2 * self._size, np.float64)
        self._pairs = self._tree.reshape(-1, 2)  # row i: the children (2i, 2i + 1) of node i, read with one take

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self._tree[1])

    @property
    def max(self) -> float:
        """Largest priority (a scan of the leaves: O(capacity))."""
        return float(self.values().max())

    @property
    def nbytes(self) -> int:
        return self._tree.nbytes

    def values(self) -> np.ndarray:
        """(capacity,) float64 view of the leaves: the priority of every slot."""
        return self._tree[self._size:self._size + self.capacity]

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities at `indices` (B,) -> (B,) float64."""
        return self._tree.take(np.asarray(indices, np.int64) + self._size)

    def update(self, indices, priorities) -> None:
        """Set leaves `indices` (B,) int to `priorities` (B,) or a scalar, float >= 0; a repeated index takes its
        last priority, as a loop of single updates would."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        priorities = np.broadcast_to(np.asarray(priorities, np.float64), indices.shape)
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"sum tree indices must lie in [0, {self.capacity}), got {indices.min()}..{indices.max()}")
        if not (np.isfinite(priorities).all() and (priorities >= 0).all()):
            raise ValueError("priorities must be finite and >= 0")
        unique, last = np.unique(indices[::-1], return_index=True)
        nodes = unique + self._size
        self._tree[nodes] = priorities[::-1][last]
        pairs = self._pairs
        for _ in range(self._levels):
            nodes >>= 1  # repeated parents are recomputed to the same value, which is harmless
            children = pairs.take(nodes, axis=0)
            self._tree[nodes] = children[:, 0] + children[:, 1]

    def set_all(self, priorities: np.ndarray) -> None:
        """Replace every leaf with `priorities` (capacity,) float >= 0 and rebuild the sums level by level."""
        self._tree[:] = 0.0
        self.values()[:] = priorities
        width = self._size
        while width > 1:
            width //= 2
            self._tree[width:2 * width] = self._tree[2 * width:4 * width:2] + self._tree[2 * width + 1:4 * width:2]

    def find_prefix_sum(self, values) -> np.ndarray:
        """For each v of `values` (B,) in [0, total): the leaf i with sum(p[:i]) <= v < sum(p[:i + 1]) -> (B,) int64.

        Descends all B values together, one level per step. Leaves of priority 0 are never returned: the descent
        only enters subtrees with a positive sum, which also absorbs rounding for v just below the total.
        """
        values = np.array(values, np.float64).reshape(-1)
        nodes = np.ones(values.shape, np.int64)
        for _ in range(self._levels):
            children = self._pairs.take(nodes, axis=0)
            left, right = children[:, 0], children[:, 1]
            go_right = ((values >= left) & (right > 0)) | (left <= 0)  # (a node reached has a positive sum)
            values -= left * go_right
            nodes += nodes + go_right  # child 2n or 2n + 1
        return nodes - self._size
