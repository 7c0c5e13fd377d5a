"""Catalogues for the knowledge-base tests: the small fixture catalogue and, when its files exist, the real one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.knowledge.catalogue import KNOWLEDGE_BASE_DIR, Catalogue, load_catalogue
from bot.understanding.search import ServiceMatcher

FIXTURE_CATALOGUE = Path(__file__).parent / "fixtures" / "catalogue"
REAL_SERVICES = KNOWLEDGE_BASE_DIR / "services"

needs_real_catalogue = pytest.mark.skipif(
    not any(REAL_SERVICES.glob("*.yml")), reason="knowledge_base/services has no service files yet"
)


@pytest.fixture(scope="session")
def fixture_catalogue() -> Catalogue:
    """Three invented services (fishing permit, resident ID, dog licence) independent of the real content."""
    return load_catalogue(FIXTURE_CATALOGUE)


@pytest.fixture(scope="session")
def fixture_matcher(fixture_catalogue: Catalogue) -> ServiceMatcher:
    return ServiceMatcher(fixture_catalogue)


@pytest.fixture(scope="session")
def real_catalogue() -> Catalogue:
    if not any(REAL_SERVICES.glob("*.yml")):
        pytest.skip("knowledge_base/services has no service files yet")
    return load_catalogue()


@pytest.fixture(scope="session")
def real_matcher(real_catalogue: Catalogue) -> ServiceMatcher:
    return ServiceMatcher(real_catalogue)


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture catalogue."""
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURE_CATALOGUE, root)
    return root
