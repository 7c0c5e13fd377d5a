"""The recogniser's model: class means of directional features under a linear discriminant projection.

Built from the stroke data with synthesised finger distortions (a few minutes on one core), kept in the
cache by a digest of what shapes it, and loaded in a fraction of a second afterwards.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from kiosk.handwriting import characters, data, features, synthesis

log = logging.getLogger(__name__)

SAMPLES_PER_CHARACTER = 16
DIMENSIONS = 160
BUILD_SEED = 1
# Bump when the features or the build change in a way the digest of the source files would not see.
FORMAT = 1
# The code that shapes the model: a change to any of them gives a new model.
SOURCES = ("features.py", "synthesis.py", "data.py", "characters.py", "model.py")


@dataclasses.dataclass(frozen=True)
class Model:
    """What recognition needs: the mean feature, the projection, and each character's place in the projected space."""

    labels: tuple[str, ...]
    mean: np.ndarray  # (SIZE,)
    projection: np.ndarray  # (SIZE, DIMENSIONS)
    prototypes: np.ndarray  # (characters, DIMENSIONS)

    def nbytes(self) -> int:
        """The model's memory in bytes."""
        return self.mean.nbytes + self.projection.nbytes + self.prototypes.nbytes + sum(len(c) for c in self.labels) * 4


def cache_dir() -> Path:
    """Models kept across clones of the repository, beside the Rasa models."""
    root = Path(os.environ.get("BIANMIN_CACHE_DIR") or Path.home() / ".cache" / "bianmin")
    return root / "handwriting"


def digest(labels: Sequence[str], samples: int = SAMPLES_PER_CHARACTER) -> str:
    """A digest of everything that shapes the model: the data release, the code, the characters and the sizes."""
    h = hashlib.sha256(f"{FORMAT}:{samples}:{DIMENSIONS}:{BUILD_SEED}:{data.data_version()}:{''.join(labels)}".encode())
    for name in SOURCES:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def _samples(job: tuple[str, int, int]) -> np.ndarray:
    """The features of the template and of synthesised writings of one character (run in worker processes)."""
    character, samples, seed = job
    medians = data.medians(character)
    assert medians is not None
    rng = np.random.default_rng([seed, ord(character)])
    rows = [features.extract([np.asarray(s, dtype=float) for s in medians])]
    rows += [features.extract([np.asarray(s, dtype=float) for s in synthesis.write(medians, rng, synthesis.TRAINING)])
             for _ in range(samples)]
    return np.stack(rows)


def train(labels: Sequence[str], samples: int = SAMPLES_PER_CHARACTER, workers: int = 1) -> Model:
    """Linear discriminant analysis over synthesised writings of `labels`; every label must be in the data."""
    jobs = [(c, samples, BUILD_SEED) for c in labels]
    if workers > 1:
        # Spawned, not forked: the gateway may build from a thread while serving.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            blocks = list(pool.map(_samples, jobs, chunksize=64))
    else:
        blocks = [_samples(job) for job in jobs]
    means = np.stack([b.mean(axis=0) for b in blocks]).astype(np.float64)
    within = np.zeros((features.SIZE, features.SIZE))
    count = 0
    for block, m in zip(blocks, means, strict=True):
        centred = block - m
        within += centred.T @ centred
        count += len(block)
    within /= count
    # A little shrinkage keeps directions that never vary in the synthesised data from dominating.
    within += np.eye(features.SIZE) * 0.05 * np.trace(within) / features.SIZE
    values, vectors = np.linalg.eigh(within)
    whiten = vectors / np.sqrt(values)
    overall = means.mean(axis=0)
    between = (means - overall) @ whiten
    _, _, right = np.linalg.svd(between, full_matrices=False)
    projection = whiten @ right[:DIMENSIONS].T
    prototypes = (means - overall) @ projection
    return Model(tuple(labels), overall.astype(np.float32), projection.astype(np.float32),
                 prototypes.astype(np.float32))


def save(model: Model, path: Path) -> None:
    """Writes the model (a few megabytes) so that nobody ever reads half of one."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as out:
        np.savez(out, labels=np.array(model.labels), mean=model.mean, projection=model.projection,
                 prototypes=model.prototypes)
    partial.replace(path)


def load(path: Path) -> Model:
    """Reads a model written by save()."""
    with np.load(path) as saved:
        return Model(tuple(str(c) for c in saved["labels"]), saved["mean"], saved["projection"], saved["prototypes"])


def ensure(labels: Sequence[str] | None = None, samples: int = SAMPLES_PER_CHARACTER, workers: int | None = None) -> Model:
    """The model for `labels` (default: every wanted character the data has): from the cache, or built now.

    A lock per model lets a second process that needs the same model wait for the one building it.
    """
    if labels is None:
        wanted = characters.wanted()
        lacking = set(data.missing(wanted))
        labels = [c for c in wanted if c not in lacking]
    path = cache_dir() / f"handwriting-{digest(labels, samples)}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            log.info("building the handwriting model %s for %d characters (a few minutes; later runs reuse it; "
                     "`python -m kiosk.handwriting build` does it ahead, on every core)", path.name, len(labels))
            save(train(labels, samples, workers or max(1, (os.cpu_count() or 1))), path)
    return load(path)
