"""Strokes as a finger writes them, made from the data's medians: slant, shear, scale, wobble, order slips and joins.

The model is built on one set of such distortions and the benchmark measures it on another, so that the
figures do not come from writing the test into the model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kiosk.handwriting.data import UNITS, Strokes

# Points along a stroke are this far apart (in data units) before the pad's own sampling is imitated.
STEP = 6.0


@dataclasses.dataclass(frozen=True)
class Distortion:
    """How far a written character strays from the model: angles in degrees, lengths in data units (1,024 a side)."""

    rotate: float = 8.0
    shear: float = 0.2
    stretch: float = 0.15
    wobble: float = 10.0
    tremor: float = 2.0
    stroke_shift: float = 15.0
    stroke_scale: float = 0.08
    swap: float = 0.5  # chance that two neighbouring strokes are written in the wrong order
    join: float = 0.5  # chance that two consecutive strokes are written without lifting the finger
    reverse: float = 0.05  # chance that one stroke is drawn from its end


# What the model is built on, and what the benchmark measures with: different ranges, different seeds.
TRAINING = Distortion(rotate=10.0, shear=0.25, stretch=0.2, wobble=12.0, tremor=3.0, stroke_shift=18.0,
                      stroke_scale=0.1, swap=0.3, join=0.3, reverse=0.1)
FINGER = Distortion()
NEAT = Distortion(rotate=3.0, shear=0.05, stretch=0.05, wobble=4.0, tremor=1.0, stroke_shift=6.0,
                  stroke_scale=0.03, swap=0.0, join=0.0, reverse=0.0)


def _dense(stroke: np.ndarray) -> np.ndarray:
    """The polyline with a point every STEP units, so that wobble bends it smoothly."""
    if len(stroke) < 2:
        return stroke
    lengths = np.hypot(*np.diff(stroke, axis=0).T)
    along = np.concatenate(([0.0], np.cumsum(lengths)))
    count = max(2, int(along[-1] / STEP) + 1)
    at = np.linspace(0.0, along[-1], count)
    return np.column_stack((np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])))


def _wobble(stroke: np.ndarray, rng: np.random.Generator, d: Distortion) -> np.ndarray:
    """A slow sideways drift (an unsteady hand) and a little tremor, both along the stroke."""
    n = len(stroke)
    knots = max(2, n // 12 + 2)
    drift = np.column_stack([np.interp(np.arange(n), np.linspace(0, n - 1, knots), rng.normal(0, d.wobble, knots))
                             for _ in range(2)])
    return stroke + drift + rng.normal(0, d.tremor, (n, 2))


def _affine(rng: np.random.Generator, d: Distortion) -> np.ndarray:
    """A random rotation, shear (slant) and stretch of the whole character."""
    angle = np.radians(rng.uniform(-d.rotate, d.rotate))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, rng.uniform(-d.shear, d.shear)], [0.0, 1.0]])
    stretch = np.diag(np.exp(rng.uniform(-d.stretch, d.stretch, 2)))
    return rotation @ shear @ stretch


def write(medians: Strokes, rng: np.random.Generator, d: Distortion = FINGER, size: int = 300) -> list[list[list[int]]]:
    """The character as a finger would send it from a pad `size` pixels square: integer points, stroke by stroke."""
    strokes = [_dense(np.asarray(s, dtype=float)) for s in medians]
    placed = []
    for stroke in strokes:
        centre = stroke.mean(axis=0)
        scale = 1.0 + rng.normal(0, d.stroke_scale)
        stroke = (stroke - centre) * scale + centre + rng.normal(0, d.stroke_shift, 2)
        placed.append(_wobble(stroke, rng, d))
    if len(placed) > 1 and rng.random() < d.swap:
        i = int(rng.integers(len(placed) - 1))
        placed[i], placed[i + 1] = placed[i + 1], placed[i]
    if len(placed) > 1 and rng.random() < d.reverse:
        i = int(rng.integers(len(placed)))
        placed[i] = placed[i][::-1]
    if len(placed) > 1 and rng.random() < d.join:
        i = int(rng.integers(len(placed) - 1))
        placed[i:i + 2] = [np.concatenate((placed[i], _dense(np.array([placed[i][-1], placed[i + 1][0]]))[1:-1],
                                           placed[i + 1]))]
    matrix = _affine(rng, d)
    centre = np.array([UNITS / 2, UNITS / 2])
    placed = [(s - centre) @ matrix.T for s in placed]
    # The character fills 55-90 % of the pad, somewhere in it, as people write.
    every = np.concatenate(placed)
    low, high = every.min(axis=0), every.max(axis=0)
    fill = rng.uniform(0.55, 0.9) * size / max(float((high - low).max()), 1.0)
    room = size - (high - low) * fill
    origin = rng.uniform(0, 1, 2) * np.maximum(room, 0)
    written = []
    for stroke in placed:
        pixels = np.rint((stroke - low) * fill + origin).astype(int).clip(0, size - 1)
        # A pad reports a point every few pixels (its own pace), and never the same point twice in a row.
        along = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(pixels, axis=0)).max(axis=1))))
        bucket = np.floor(along / rng.uniform(1.0, 4.0)).astype(int)
        keep = np.flatnonzero(np.diff(bucket, prepend=-1))
        if keep[-1] != len(pixels) - 1:
            keep = np.append(keep, len(pixels) - 1)
        written.append(pixels[keep].tolist())
    return written
