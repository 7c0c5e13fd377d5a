"""The tokenizer keeps service names whole once it loads the dictionary written from the catalogue."""

from __future__ import annotations

import re

import jieba
import pytest

from bot.understanding.dictionary import dictionary_words, write_jieba_dictionary
from tests.knowledge_base.conftest import needs_real_catalogue


def tokenizer_for(catalogue, directory) -> jieba.Tokenizer:
    """A fresh jieba tokenizer that loaded the dictionary written from `catalogue`, as the engine does."""
    path = directory / "jieba" / "userdict.txt"
    write_jieba_dictionary(catalogue, path)
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(path))
    return tokenizer


@pytest.fixture(scope="module")
def real_tokenizer(real_catalogue, tmp_path_factory):
    return tokenizer_for(real_catalogue, tmp_path_factory.mktemp("real"))


def test_every_line_is_a_chinese_word_and_a_frequency(fixture_catalogue, tmp_path):
    path = tmp_path / "userdict.txt"
    write_jieba_dictionary(fixture_catalogue, path)
    lines = path.read_text("utf-8").splitlines()
    assert lines
    for line in lines:
        assert re.fullmatch(r"\S*[\u4e00-\u9fff]\S* [1-9][0-9]*", line), line
    words = [line.split(" ")[0] for line in lines]
    assert len(words) == len(set(words))
    assert "diaoyuzheng" not in words  # Latin aliases are the matcher's, not the tokenizer's


def test_names_stay_whole_and_verbs_stay_separate(fixture_catalogue, tmp_path):
    tokenizer = tokenizer_for(fixture_catalogue, tmp_path)
    assert "养犬登记证" in tokenizer.lcut("我想问养犬登记证的事")
    assert tokenizer.lcut("我要办钓鱼证")[-2:] == ["办", "钓鱼证"]


def test_sentences_are_not_words(fixture_catalogue):
    assert "身份证丢了" not in dictionary_words(fixture_catalogue)
    assert "身份证" in dictionary_words(fixture_catalogue)


@needs_real_catalogue
@pytest.mark.parametrize(
    ("sentence", "word"),
    [
        ("异地就医备案怎么办", "异地就医备案"),
        ("我想申请高龄津贴", "高龄津贴"),
        ("养老金认证在哪里", "养老金认证"),
        ("我想问随迁子女入学的事", "随迁子女入学"),
        ("老年人优待证丢了", "老年人优待证"),
        ("社保卡补办要带什么", "社保卡"),
    ],
)
def test_real_service_names_are_single_tokens(real_tokenizer, sentence, word):
    assert word in real_tokenizer.lcut(sentence)
