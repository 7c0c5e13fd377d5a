"""The catalogue loads, is consistent, explains broken edits, and follows edits without a restart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from bot.knowledge.catalogue import (
    CONTRACT_SERVICE_IDS,
    KNOWLEDGE_BASE_DIR,
    CatalogueCache,
    CatalogueError,
    get_catalogue,
    load_catalogue,
)
from bot.understanding.normalise import normalise
from tests.knowledge_base.conftest import needs_real_catalogue

REPO_ROOT = KNOWLEDGE_BASE_DIR.parent
SHARED_VOCABULARY = REPO_ROOT.parent / "shared" / "contract" / "vocabulary.yml"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def edit(path: Path, change) -> None:
    """Rewrites a YAML file through `change` and makes sure its modification time moves."""
    data = yaml.safe_load(path.read_text("utf-8"))
    change(data)
    before = path.stat().st_mtime_ns
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


# ------------------------------------------------------------------ the real catalogue


@needs_real_catalogue
@pytest.mark.skipif(not SHARED_VOCABULARY.exists(), reason=f"the shared contract is not at {SHARED_VOCABULARY}")
def test_real_catalogue_has_exactly_the_services_of_the_shared_vocabulary(real_catalogue):
    vocabulary = yaml.safe_load(SHARED_VOCABULARY.read_text("utf-8"))
    assert set(real_catalogue.services) == set(vocabulary["services"])
    assert CONTRACT_SERVICE_IDS == set(vocabulary["services"])


@needs_real_catalogue
def test_every_centre_a_service_names_exists_and_lists_the_service_back(real_catalogue):
    for service in real_catalogue.services.values():
        centres = real_catalogue.centres_of(service.id)
        assert [c.id for c in centres] == service.centres
        assert all(service.id in c.services for c in centres)


@needs_real_catalogue
def test_no_alias_names_two_services(real_catalogue):
    owners: dict[str, set[str]] = {}
    for service in real_catalogue.services.values():
        for name in {service.name, service.short_name, *service.aliases}:
            owners.setdefault(normalise(name).replace(" ", ""), set()).add(service.id)
    shared = {name: ids for name, ids in owners.items() if len(ids) > 1}
    assert not shared, f"aliases naming more than one service: {shared}"


@needs_real_catalogue
def test_spoken_summaries_are_short_enough_to_read_aloud(real_catalogue):
    for service in real_catalogue.services.values():
        summaries = [
            service.eligibility.summary, service.fees.summary, service.processing_time.summary,
            service.materials_summary, service.where_summary,
        ]
        for summary in summaries:
            assert 2 <= len(summary) <= 120, f"{service.id}: {summary}"


@needs_real_catalogue
def test_every_service_has_a_rich_list_of_descriptive_keywords(real_catalogue):
    assert set(real_catalogue.keywords) == set(real_catalogue.services)
    for service_id, keywords in real_catalogue.keywords.items():
        assert len(keywords) >= 40, service_id


@needs_real_catalogue
def test_the_hotline_is_known_for_fallback_answers(real_catalogue):
    assert real_catalogue.city.hotline.isdigit()


def test_get_catalogue_returns_the_same_object_while_nothing_changes():
    if not any((KNOWLEDGE_BASE_DIR / "services").glob("*.yml")):
        pytest.skip("knowledge_base/services has no service files yet")
    assert get_catalogue() is get_catalogue()


# ------------------------------------------------------------------ validation errors


def test_fixture_catalogue_loads_without_the_contract_ids(fixture_catalogue):
    assert set(fixture_catalogue.services) == {"fishing_permit", "resident_id", "dog_licence"}
    assert fixture_catalogue.city.hotline == "12345"  # written unquoted in YAML
    assert fixture_catalogue.centres_of("dog_licence")[0].name == "测试市便民服务中心"


def test_requiring_the_contract_ids_rejects_a_catalogue_with_other_services(catalogue_copy):
    with pytest.raises(CatalogueError, match="missing: .*social_security_card"):
        load_catalogue(catalogue_copy, contract_ids=True)


def test_a_misspelt_field_names_the_file_and_the_field(catalogue_copy):
    path = catalogue_copy / "services" / "dog_licence.yml"
    edit(path, lambda d: d.update(materials_sumary=d.pop("materials_summary")))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(catalogue_copy)
    assert "dog_licence.yml" in caught.value.message
    assert "materials_summary" in caught.value.message and "materials_sumary" in caught.value.message


def test_a_summary_too_long_to_read_aloud_is_rejected(catalogue_copy):
    path = catalogue_copy / "services" / "fishing_permit.yml"
    edit(path, lambda d: d["fees"].update(summary="很长" * 61))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(catalogue_copy)
    assert caught.value.field == "fees.summary"
    assert "fishing_permit.yml" in caught.value.message


def test_an_unknown_centre_is_named_with_its_service_file(catalogue_copy):
    path = catalogue_copy / "services" / "resident_id.yml"
    edit(path, lambda d: d.update(centres=["test_centre", "moon_base"]))
    with pytest.raises(CatalogueError, match=r"resident_id\.yml: centres\.1: 'moon_base'"):
        load_catalogue(catalogue_copy)


def test_a_centre_listing_a_service_without_a_file_is_rejected(catalogue_copy):
    edit(catalogue_copy / "centres.yml", lambda d: d["centres"][0]["services"].append("space_travel"))
    with pytest.raises(CatalogueError, match="space_travel"):
        load_catalogue(catalogue_copy)


def test_an_id_that_differs_from_its_file_name_is_rejected(catalogue_copy):
    edit(catalogue_copy / "services" / "dog_licence.yml", lambda d: d.update(id="cat_licence"))
    with pytest.raises(CatalogueError, match="must equal the file name 'dog_licence'"):
        load_catalogue(catalogue_copy)


def test_broken_yaml_names_the_file_and_line(catalogue_copy):
    path = catalogue_copy / "services" / "fishing_permit.yml"
    path.write_text(path.read_text("utf-8") + "fees: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"fishing_permit\.yml: line \d+ is not valid YAML"):
        load_catalogue(catalogue_copy)


def test_keywords_for_an_unknown_service_are_rejected(catalogue_copy):
    path = catalogue_copy / "service_keywords.yml"
    path.write_text(path.read_text("utf-8") + "space_travel:\n  strong: [去月球]\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="service_keywords.yml: 'space_travel'"):
        load_catalogue(catalogue_copy)


def test_keywords_in_an_unknown_tier_are_rejected(catalogue_copy):
    path = catalogue_copy / "service_keywords.yml"
    path.write_text(path.read_text("utf-8").replace("  hint:", "  maybe:"), encoding="utf-8")
    with pytest.raises(CatalogueError, match="fishing_permit.maybe: unknown tier"):
        load_catalogue(catalogue_copy)


# ------------------------------------------------------------------ reloading


def test_an_edited_file_is_answered_from_after_the_check_interval(catalogue_copy):
    clock = FakeClock()
    cache = CatalogueCache(catalogue_copy, clock=clock)
    first = cache.get()
    assert first.services["dog_licence"].fees.amount_yuan == 100

    edit(catalogue_copy / "services" / "dog_licence.yml", lambda d: d["fees"].update(amount_yuan=80))
    assert cache.get() is first, "files are looked at no more than once per interval"

    clock.now += 1.5
    second = cache.get()
    assert second is not first
    assert second.services["dog_licence"].fees.amount_yuan == 80
    clock.now += 1.5
    assert cache.get() is second, "an unchanged catalogue is not reloaded"


def test_new_keywords_change_understanding_without_a_restart(catalogue_copy):
    from bot.understanding.search import ServiceMatcher

    clock = FakeClock()
    cache = CatalogueCache(catalogue_copy, clock=clock)
    assert ServiceMatcher(cache.get()).match("我家的猫咪要登记吗") == []

    keywords = catalogue_copy / "service_keywords.yml"
    edit(keywords, lambda d: d["dog_licence"]["strong"].append("猫咪 登记"))
    clock.now += 1.5
    assert ServiceMatcher(cache.get()).match("我家的猫咪要登记吗")[0].service_id == "dog_licence"


def test_a_new_service_file_is_picked_up(catalogue_copy):
    clock = FakeClock()
    cache = CatalogueCache(catalogue_copy, clock=clock)
    assert "fishing_licence_copy" not in cache.get().services
    source = catalogue_copy / "services" / "fishing_permit.yml"
    target = catalogue_copy / "services" / "fishing_licence_copy.yml"
    shutil.copy(source, target)
    edit(target, lambda d: d.update(id="fishing_licence_copy", aliases=["海钓证", "海钓许可", "出海钓鱼证", "海钓执照", "海钓登记"]))
    edit(catalogue_copy / "centres.yml", lambda d: d["centres"][0]["services"].append("fishing_licence_copy"))
    clock.now += 1.5
    assert "fishing_licence_copy" in cache.get().services


def test_a_broken_edit_keeps_the_last_good_catalogue_answering(catalogue_copy, caplog):
    clock = FakeClock()
    cache = CatalogueCache(catalogue_copy, clock=clock)
    good = cache.get()
    path = catalogue_copy / "services" / "dog_licence.yml"
    edit(path, lambda d: d.pop("department"))
    clock.now += 1.5
    assert cache.get() is good
    assert cache.last_error is not None and "dog_licence.yml" in cache.last_error.message
    assert "department" in caplog.text

    edit(path, lambda d: d.update(department="测试市公安局治安支队"))
    clock.now += 1.5
    repaired = cache.get()
    assert repaired is not good and cache.last_error is None
    assert repaired.services["dog_licence"].department == "测试市公安局治安支队"


def test_a_broken_catalogue_at_start_up_is_an_error_not_an_empty_assistant(catalogue_copy):
    (catalogue_copy / "city.yml").write_text("city: 测试市\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"city\.yml: hotline: Field required"):
        CatalogueCache(catalogue_copy).get()
