"""The article 33 draft: the fields the GDPR requires, and the 72-hour deadline."""

from __future__ import annotations

import datetime as dt
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.clock import ManualClock
from rempart.response import ContactPoint, Deadline, DetectionInFuture, Language, Scope
from rempart.response.article33 import (
    draft_notification,
    notification_document,
    notification_json,
    notification_markdown,
)
from response_factory import at, person, scope

DPO = ContactPoint(name="Fake DPO", contact="dpo@example.test")


def _scope() -> Scope:
    return scope(person(1, "111", "nir", "birth_date", disclosures=4),
                 person(2, "111", "coverage", "guarantee"),
                 person(3, "222", "nir", "care_category", disclosures=2), detected=30)


def test_json_holds_every_item_of_article_33_3() -> None:
    s = _scope()
    doc = notification_document(draft_notification(
        scope=s, contact=DPO, now=at(40), letters=3, measures=["Accounts 12 and 40 suspended"],
        insurer_names={"111": "Fake Mutual One"}))
    nature = doc["nature"]
    # (a) nature, categories and approximate numbers of persons and records
    assert nature["data_subjects"]["count"] == 3
    assert nature["records"] == {"disclosures": 7, "person_fields": 6}
    assert {c["category"]: (c["fields"], c["persons"]) for c in nature["data_categories"]} == {
        "identity": (["nir", "birth_date"], 2),
        "insurance": (["coverage", "guarantee"], 1),
        "care": (["care_category"], 1),
    }
    assert nature["health_data"] is True
    assert nature["controllers"] == [{"amc": "111", "name": "Fake Mutual One", "persons": 2},
                                     {"amc": "222", "name": None, "persons": 1}]
    assert nature["selector"] == "provider accounts 12, 40; IP addresses 203.0.113.0/24"
    # (b) contact point
    assert doc["contact_point"] == {"name": "Fake DPO", "contact": "dpo@example.test"}
    # (c) likely consequences, chosen by the categories disclosed, in both languages
    keys = [c["key"] for c in doc["likely_consequences"]]
    assert keys == ["targeted_phishing", "impersonation", "insurer_impersonation",
                    "health_inference"]
    assert all(c["fr"] and c["en"] for c in doc["likely_consequences"])
    # (d) measures taken (the analyst's included) and proposed
    assert "Accounts 12 and 40 suspended" in doc["measures"]["taken"]
    assert doc["measures"]["proposed"]
    assert doc["to_complete"] == []


def test_consequences_follow_what_was_disclosed() -> None:
    s = scope(person(1, "111", "postcode"))
    doc = notification_document(draft_notification(scope=s, contact=DPO, now=at(31)))
    assert [c["key"] for c in doc["likely_consequences"]] == ["profiling"]
    assert doc["nature"]["health_data"] is False


def test_missing_contact_and_measures_are_listed_to_complete() -> None:
    n = draft_notification(scope=_scope(), contact=ContactPoint(name="  "), now=at(31))
    assert n.to_complete == ("contact_name", "contact_details", "containment")
    for language, marker in ((Language.FR, "[À COMPLÉTER]"), (Language.EN, "[TO COMPLETE]")):
        assert marker in notification_markdown(n, language)


@pytest.mark.parametrize(("elapsed_h", "overdue", "remaining_s"), [
    (0, False, 72 * 3600),
    (71 + 59 / 60, False, 60),
    (72, False, 0),  # "not later than 72 hours": the due instant itself is on time
    (72 + 1 / 3600, True, -1),
    (100, True, -28 * 3600),
])
def test_deadline_is_72_hours_from_detection_on_the_injected_clock(
        elapsed_h: float, overdue: bool, remaining_s: int) -> None:
    clock = ManualClock(at(30))
    clock.advance(elapsed_h * 3600)
    n = draft_notification(scope=_scope(), contact=DPO, now=clock.now(), measures=["done"])
    deadline = notification_document(n)["deadline"]
    assert deadline["detected_at"] == "2024-02-02T14:00:00Z"
    assert deadline["due_at"] == "2024-02-05T14:00:00Z"
    assert deadline["overdue"] is overdue
    assert deadline["remaining_seconds"] == remaining_s
    assert ("delay_reasons" in n.to_complete) is overdue
    fr, en = (notification_markdown(n, lang) for lang in (Language.FR, Language.EN))
    assert ("ÉCHÉANCE DÉPASSÉE" in fr) is overdue
    assert ("DEADLINE PASSED" in en) is overdue
    assert ("Motifs du retard" in fr) is overdue
    assert "5 février 2024 à 15 h 00 (heure de Paris)" in fr  # 14:00 UTC is 15:00 in Paris
    assert "5 February 2024 at 15:00 (Paris time)" in en


@given(detected=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1),
                             timezones=st.just(dt.UTC)),
       elapsed=st.integers(min_value=0, max_value=10 * 24 * 3600))
def test_deadline_properties(detected: dt.datetime, elapsed: int) -> None:
    now = detected + dt.timedelta(seconds=elapsed)
    deadline = Deadline.starting(detected_at=detected, now=now)
    assert deadline.due_at - detected == dt.timedelta(hours=72)
    assert deadline.overdue == (elapsed > 72 * 3600)
    assert deadline.remaining == dt.timedelta(seconds=72 * 3600 - elapsed)


def test_detection_later_than_now_is_refused() -> None:
    with pytest.raises(DetectionInFuture):
        draft_notification(scope=_scope(), contact=DPO, now=at(29))


def test_markdown_escapes_hostile_free_text() -> None:
    hostile = ContactPoint(name="<script>alert(1)</script> *x* [a](http://evil.example)\n# Hi",
                           contact="| table | `code`")
    n = draft_notification(scope=_scope(), contact=hostile, now=at(31),
                           insurer_names={"111": "<img src=x onerror=alert(1)>"})
    for language in Language:
        text = notification_markdown(n, language)
        assert not re.search(r"(?<!\\)<", text)  # every < is escaped: no HTML survives
        assert "\\<script\\>" in text
        assert "\\<img src=x onerror=alert(1)\\>" in text
        assert "\\[a\\](http://evil.example)" in text
        assert "\n# Hi" not in text
        assert "\\| table \\| \\`code\\`" in text


def test_draft_is_the_same_scope_in_both_languages_and_valid_json() -> None:
    n = draft_notification(scope=_scope(), contact=DPO, now=at(31), letters=3)
    assert orjson.loads(notification_json(n))["article34"] == {"letters": 3,
                                                                "languages": ["fr", "en"]}
    fr, en = (notification_markdown(n, lang) for lang in (Language.FR, Language.EN))
    assert "Nombre de personnes concernées : 3" in fr
    assert "Number of data subjects: 3" in en
    assert "comptes de professionnels 12, 40" in fr
