"""Directional features of the written trajectory that do not depend on stroke order, direction or joins.

The character is normalised by its moments (centre, spread, slant), its ink is sampled evenly along every
line drawn, and each sample adds its length to the orientations it lies between (0°, 45°, 90°, 135°,
undirected) at its place on a coarse grid, smoothed by a Gaussian: the "directional element" features of
offline character recognition, computed on the pen's path instead of on an image.
"""

from __future__ import annotations

import numpy as np

GRID = 8  # cells a side
ORIENTATIONS = 4
REACH = 2.1  # the grid spans this many standard deviations of the ink either side of its centre
SAMPLE = 0.04  # spacing of ink samples, in standard deviations
SIZE = ORIENTATIONS * GRID * GRID

_CENTRES = np.linspace(-REACH, REACH, GRID + 1)[:-1] + REACH / GRID
_SIGMA = 2 * REACH / GRID * 0.7


def _segments(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of every line drawn; a tap (one point) counts as a short dot."""
    starts, ends = [], []
    for stroke in strokes:
        if len(stroke) == 1:
            stroke = np.vstack((stroke, stroke + 1.0))
        starts.append(stroke[:-1])
        ends.append(stroke[1:])
    return np.concatenate(starts), np.concatenate(ends)


def extract(strokes: list[np.ndarray]) -> np.ndarray:
    """The feature vector (float32, SIZE values) of one character's strokes, each an (n, 2) array of x, y."""
    a, b = _segments(strokes)
    delta = b - a
    length = np.hypot(delta[:, 0], delta[:, 1])
    drawn = length > 0
    a, delta, length = a[drawn], delta[drawn], length[drawn]
    if not len(length):
        return np.zeros(SIZE, dtype=np.float32)
    total = length.sum()
    middle = a + delta / 2
    centre = (middle * length[:, None]).sum(axis=0) / total
    # Second moments of the ink as line segments (a segment's own spread included), for spread and slant.
    offset = middle - centre
    var = ((offset**2 + delta**2 / 12) * length[:, None]).sum(axis=0) / total
    cov = ((offset[:, 0] * offset[:, 1] + delta[:, 0] * delta[:, 1] / 12) * length).sum() / total
    slant = cov / var[1] if var[1] > 0 else 0.0
    spread = np.sqrt(np.maximum(var, 1e-9))
    largest = spread.max()
    # Each axis keeps half of its own proportion: a flat 一 stays flat, a narrow 川 is not stretched to a square.
    scale = np.sqrt(np.maximum(spread, 0.05 * largest) * largest)
    shear = np.array([[1.0, -slant], [0.0, 1.0]])
    a = ((a - centre) @ shear.T) / scale
    delta = (delta @ shear.T) / scale
    length = np.hypot(delta[:, 0], delta[:, 1])
    drawn = length > 0
    a, delta, length = a[drawn], delta[drawn], length[drawn]
    counts = np.maximum(1, np.ceil(length / SAMPLE).astype(int))
    which = np.repeat(np.arange(len(length)), counts)
    first = np.cumsum(counts) - counts
    t = (np.arange(len(which)) - first[which] + 0.5) / counts[which]
    points = a[which] + delta[which] * t[:, None]
    weight = (length / counts)[which]
    angle = np.mod(np.arctan2(delta[which, 1], delta[which, 0]), np.pi) / (np.pi / ORIENTATIONS)
    low = np.floor(angle).astype(int) % ORIENTATIONS
    high = (low + 1) % ORIENTATIONS
    part = angle - np.floor(angle)
    share = np.zeros((len(which), ORIENTATIONS))
    rows = np.arange(len(which))
    share[rows, low] += (1 - part) * weight
    share[rows, high] += part * weight
    wx = np.exp(-((points[:, 0:1] - _CENTRES) ** 2) / (2 * _SIGMA**2))
    wy = np.exp(-((points[:, 1:2] - _CENTRES) ** 2) / (2 * _SIGMA**2))
    grid = np.einsum("io,iy,ix->oyx", share, wy, wx, optimize=True)
    return np.sqrt(grid.ravel() / max(weight.sum(), 1e-9)).astype(np.float32)
