"""Sentences only our code says live outside the engine's domain: rewording or adding one never retrains the model."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from bot import texts
from bot.engine import build
from bot.settings import REPO_ROOT, get_settings

DIALOGUES = REPO_ROOT / "dialogues"
# A response name written out in code: what texts.text, texts.buttons and the replies' tables are given.
NAME_IN_CODE = re.compile(r"""["'](utter_[a-z0-9_]+)["']""")


def code_only() -> dict[str, list]:
    return texts.read_responses(get_settings().texts_dir)


def test_no_name_is_defined_both_in_the_domain_and_among_the_texts_only_code_says():
    domain = texts.read_responses(get_settings().domain_dir)
    assert {"utter_sms_opt_in_code_sent", "utter_sms_opt_in_no_sms"} <= set(code_only())
    assert sorted(set(domain) & set(code_only())) == []


def test_the_texts_only_code_says_hold_sentences_and_nothing_the_engine_would_need():
    for path in sorted(get_settings().texts_dir.glob("*")):
        assert path.suffix == ".yml", f"{path.name}: texts.load_responses reads *.yml only"
        assert set(yaml.safe_load(path.read_text(encoding="utf-8"))) <= {"version", "responses"}, path.name


def test_the_engine_is_never_told_to_say_a_text_only_code_says():
    # A rule, story or domain file naming one would need it in the domain (and so in the training data).
    engine_files = [p for p in (DIALOGUES / "domain").glob("*.yml")] + list((DIALOGUES / "data").rglob("*.yml"))
    named = {name for p in engine_files for name in code_only() if re.search(rf"\b{name}\b", p.read_text("utf-8"))}
    assert named == set()


def test_a_text_only_code_says_is_said_like_a_domain_response():
    said = texts.text("utter_sms_opt_in_no_sms", hotline="12345")
    assert "12345" in said and said == code_only()["utter_sms_opt_in_no_sms"][0]["text"].format(hotline="12345")


def test_every_response_name_written_in_code_is_defined():
    known = texts.load_responses()
    used = {(m, str(p.relative_to(REPO_ROOT))) for top in ("bot", "channels", "speech", "kiosk")
            for p in (REPO_ROOT / top).rglob("*.py") for m in NAME_IN_CODE.findall(p.read_text("utf-8"))}
    assert {"utter_sms_opt_in_code_sent", "utter_which_service"} <= {name for name, _ in used}
    assert sorted((name, path) for name, path in used if name not in known) == []


def copy_training_sources(root: Path) -> None:
    """The files the training digest reads, and the texts beside them, under `root` as under the repository."""
    for source in (*build.TRAINING_SOURCES, "dialogues/texts"):
        target = root / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO_ROOT / source).is_dir():
            shutil.copytree(REPO_ROOT / source, target)
        else:
            shutil.copy2(REPO_ROOT / source, target)


def test_rewording_or_adding_a_text_only_code_says_keeps_the_trained_model(tmp_path, monkeypatch):
    copy_training_sources(tmp_path / "repo")
    (tmp_path / "build" / "jieba").mkdir(parents=True)
    (tmp_path / "build" / "nlu").mkdir()
    monkeypatch.setattr(build, "REPO_ROOT", tmp_path / "repo")
    before = build.training_digest(tmp_path / "build")

    sms = tmp_path / "repo" / "dialogues" / "texts" / "sms.yml"
    sms.write_text(sms.read_text("utf-8").replace("暂时开不了", "现在开不了"), encoding="utf-8")
    (sms.parent / "new.yml").write_text('responses:\n  utter_new:\n    - text: "新的一句"\n', encoding="utf-8")
    assert build.training_digest(tmp_path / "build") == before

    domain = tmp_path / "repo" / "dialogues" / "domain" / "sms.yml"
    domain.write_text(domain.read_text("utf-8") + '  utter_new_in_domain:\n    - text: "新的一句"\n', encoding="utf-8")
    assert build.training_digest(tmp_path / "build") != before
