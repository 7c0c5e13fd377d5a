"""Turns one character's strokes into the characters it most likely is, best first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kiosk.handwriting import features
from kiosk.handwriting.model import Model

MAX_CANDIDATES = 10


class Recogniser:
    """Nearest class means in the model's discriminant space; holds nothing of what it was shown."""

    def __init__(self, model: Model):
        self.model = model
        self._norms = (model.prototypes.astype(np.float32) ** 2).sum(axis=1)

    def recognise(self, strokes: Sequence[Sequence[Sequence[float]]], count: int = MAX_CANDIDATES) -> list[str]:
        """Up to `count` characters, best first, for strokes of (x, y) points in any units with y down."""
        arrays = [np.asarray(s, dtype=float).reshape(-1, 2) for s in strokes if len(s)]
        if not arrays:
            return []
        z = (features.extract(arrays) - self.model.mean) @ self.model.projection
        distance = self._norms - 2 * (self.model.prototypes @ z)
        count = min(count, len(distance))
        best = np.argpartition(distance, count - 1)[:count]
        return [self.model.labels[i] for i in best[np.argsort(distance[best])]]
