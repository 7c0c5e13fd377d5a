"""A small handwriting model built from the real stroke data: a few hundred characters, built once and cached."""

from __future__ import annotations

import pytest

from kiosk.handwriting import characters, model

# Characters the tests write, characters that look like them, and every 12th level-1 character as a crowd.
WRITTEN = "张王李覃闫邝仝国永"
LOOK_ALIKES = "弓长玉主全三土士工干千于己已巳日曰目田由甲申电人入八大太犬天夫木本未末"


@pytest.fixture(scope="session")
def small_model() -> model.Model:
    labels = dict.fromkeys((*WRITTEN, *LOOK_ALIKES, *characters.gb2312_level(1)[::12]))
    return model.ensure(list(labels), samples=6, workers=2)
