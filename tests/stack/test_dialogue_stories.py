"""`rasa test core` runs the test stories of dialogues/tests against the trained model and the live actions."""

from __future__ import annotations

import subprocess

import pytest

from bot.engine.build import RASA_ENV, engine_config_dir, engine_environment, training_digest
from bot.settings import REPO_ROOT, load_settings

pytestmark = pytest.mark.stack


def test_every_test_story_passes(stack, tmp_path):
    settings = load_settings(**{k.lower(): v for k, v in stack.env.items()
                                if k in {"RUN_DIR", "DATABASE_URL", "ACTION_PORT", "RASA_PORT", "GATEWAY_PORT"}})
    model = settings.rasa_model_dir / f"bianmin-{training_digest()}.tar.gz"
    result = subprocess.run(
        [str(RASA_ENV / "bin" / "rasa"), "test", "core", "--model", str(model), "--stories", "dialogues/tests",
         "--endpoints", str(engine_config_dir(settings) / "endpoints.yml"), "--out", str(tmp_path),
         "--no-plot"],
        cwd=REPO_ROOT, env=engine_environment(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    failed = (tmp_path / "failed_test_stories.yml").read_text(encoding="utf-8")
    assert "None of the test stories failed" in failed, failed
