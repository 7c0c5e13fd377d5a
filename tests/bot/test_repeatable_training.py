"""Training is repeatable: fixed hash seed, thread pools and kernels, and they are part of the model's digest."""

from __future__ import annotations

import pytest

from bot.engine import build


def test_rasa_train_runs_with_a_fixed_hash_seed_fixed_thread_pools_and_tensorflows_own_kernels(monkeypatch):
    monkeypatch.setenv("TF_INTRA_OP_PARALLELISM_THREADS", "16")  # a bigger machine's setting does not leak in
    env = build.training_environment()
    assert env["PYTHONHASHSEED"] == "0"
    assert env["TF_INTER_OP_PARALLELISM_THREADS"] == env["TF_INTRA_OP_PARALLELISM_THREADS"] == "2"
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert env["RASA_TELEMETRY_ENABLED"] == "false"  # still the engine's environment


def test_the_training_settings_are_part_of_the_digest(monkeypatch: pytest.MonkeyPatch):
    before = build.training_digest()
    monkeypatch.setitem(build.REPEATABLE_TRAINING, "TF_INTRA_OP_PARALLELISM_THREADS", "4")
    assert build.training_digest() != before
