"""Scoring functions of benchmarks/understanding.py (no server involved)."""

from collections import Counter

import pytest

from benchmarks.understanding import (
    DEFAULT_DATA, Case, DataError, Prediction, format_report, latency_stats, load_test_sets,
    parse_cases, parse_prediction, score,
)

CASES = [
    Case("社保卡丢了咋补", "ask_how_to_apply", "social_security_card", "terse"),
    Case("几点开门", "ask_location_hours", None, "terse"),
    Case("老板不发工资", "ask_how_to_apply", "wage_arrears_complaint", "migrant_worker"),
    Case("你好", "greet", None, "elderly"),
    Case("转人工", "request_human", None, "elderly"),
]


def test_score_counts_intent_service_and_joint():
    preds = [
        Prediction("ask_how_to_apply", "social_security_card"),  # both right
        Prediction("ask_location_hours", "id_card"),              # null gold, service given: wrong
        Prediction("complain", "wage_arrears_complaint"),         # intent wrong
        Prediction("greet", None),                                # both right
        None,                                                     # call failed: not scored
    ]
    report = score(CASES, preds)
    assert (report.total.n, report.total.intent, report.total.service, report.total.joint) == (4, 3, 3, 2)
    assert report.total.rate("joint") == 0.5
    assert report.intent_confusions == {("ask_how_to_apply", "complain"): 1}
    assert report.service_confusions == {(None, "id_card"): 1}
    terse = report.by_style["terse"]
    assert (terse.n, terse.intent, terse.service, terse.joint) == (2, 2, 1, 1)
    assert "elderly" in report.by_style and report.by_style["elderly"].n == 1
    assert [c.text for c, _ in report.mistakes] == ["几点开门", "老板不发工资"]


def test_missing_service_counts_as_wrong_when_gold_has_one():
    report = score(CASES[:1], [Prediction("ask_how_to_apply", None)])
    assert report.total.service == 0 and report.total.intent == 1
    assert report.service_confusions == {("social_security_card", None): 1}


def test_score_rejects_length_mismatch():
    with pytest.raises(ValueError):
        score(CASES, [])


def test_latency_stats():
    assert latency_stats([]) == (0.0, 0.0)
    mean, p95 = latency_stats([i / 100 for i in range(1, 101)])
    assert mean == pytest.approx(0.505)
    assert p95 == pytest.approx(0.95)
    assert latency_stats([0.2]) == (0.2, 0.2)


def test_parse_prediction():
    assert parse_prediction({"intent": "greet", "service": None, "intent_confidence": 0.9}) == Prediction("greet", None)
    assert parse_prediction({"intent": "ask_fee", "service": "id_card"}) == Prediction("ask_fee", "id_card")
    for bad in ({}, {"intent": 3}, {"intent": "greet", "service": 5}, ["greet"]):
        with pytest.raises(ValueError):
            parse_prediction(bad)


def test_an_answer_about_a_wrong_service_is_counted_unless_the_person_is_asked_which():
    preds = [
        Prediction("ask_how_to_apply", "id_card"),                                     # wrong, answered: counted
        Prediction("ask_location_hours", "id_card", ("id_card", "residence_permit")),  # wrong, but asked: not
        Prediction("ask_how_to_apply", None),                                          # no service: asked anyway
        Prediction("greet", None),                                                     # right
        Prediction("request_human", "senior_card"),                                    # null gold, answered: counted
    ]
    report = score(CASES, preds)
    assert [case.text for case, _ in report.wrong_service_unasked] == ["社保卡丢了咋补", "转人工"]
    text = format_report(report, total_messages=5, failures=0, latencies=[0.1], show_errors=5)
    assert "wrong service, not asked: 2" in text
    assert "asks: id_card, residence_permit" in text


def test_parse_prediction_reads_the_services_a_clarifying_question_offers():
    body = {"intent": "ask_fee", "service": "id_card", "candidates": ["id_card", "residence_permit"]}
    prediction = parse_prediction(body)
    assert prediction.candidates == ("id_card", "residence_permit") and prediction.asks_which_service
    assert not parse_prediction({"intent": "ask_fee", "service": "id_card", "candidates": []}).asks_which_service
    for bad in ({"intent": "greet", "candidates": "id_card"}, {"intent": "greet", "candidates": [3]}):
        with pytest.raises(ValueError):
            parse_prediction(bad)


def test_parse_cases_validates_labels():
    ok = [{"text": "低保", "intent": "ask_how_to_apply", "service": "minimum_living_allowance", "style": "terse"}]
    assert parse_cases(ok) == [Case("低保", "ask_how_to_apply", "minimum_living_allowance", "terse")]
    for bad in (
        [],
        [{**ok[0], "intent": "ask_price"}],
        [{**ok[0], "service": "passport"}],
        [{**ok[0], "style": "shouting"}],
        [{**ok[0], "text": "  "}],
        ok + ok,
    ):
        with pytest.raises(DataError):
            parse_cases(bad)


def test_format_report_mentions_the_numbers():
    report = score(CASES[:2], [Prediction("ask_how_to_apply", "social_security_card"),
                                Prediction("ask_fee", None)])
    text = format_report(report, total_messages=2, failures=0, latencies=[0.1, 0.3], show_errors=5)
    assert "intent accuracy:    50.0%" in text
    assert "service accuracy:  100.0%" in text
    assert "ask_location_hours -> ask_fee" in text
    assert "几点开门" in text
    assert "mean 200 ms" in text


def test_every_file_of_the_held_out_set_is_valid_and_shares_no_message():
    sets = load_test_sets(DEFAULT_DATA)
    assert [len(cases) >= 150 for cases in sets.values()] == [True, True, True]


def test_the_stories_file_reports_each_pattern_as_its_own_style():
    cases = load_test_sets(DEFAULT_DATA)["understanding_testset_stories.yml"]
    counts = Counter(case.style for case in cases)
    assert set(counts) == {"long_story", "named_booking", "relative_age", "offer_reply",
                           "cannot_go", "everyday_request"}
    assert counts["long_story"] >= 40


def test_a_message_in_two_files_is_refused(tmp_path):
    line = '- {text: "低保", intent: ask_how_to_apply, service: minimum_living_allowance, style: terse}\n'
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text(line, encoding="utf-8")
    second.write_text(line, encoding="utf-8")
    with pytest.raises(DataError, match="also in a.yml"):
        load_test_sets([first, second])
