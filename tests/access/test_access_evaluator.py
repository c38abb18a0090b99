"""Table-driven tests of the pure access evaluator (domain/access/evaluator.py): no database, no app.

The table is tests/support/access_cases.py, one case per line, built with the one-line facts of
tests/support/access_facts.py (a fixed hub with a small content tree); the explain and property
suites use them too."""

from __future__ import annotations

import pytest

from domain.access.evaluator import Decision, decide
from tests.support.access_cases import CASES, Case


def test_the_table_is_big_and_names_are_unique() -> None:
    assert len(CASES) >= 70
    assert len({c.name for c in CASES}) == len(CASES)


REASONS = {"not_found", "team_staff", "team_moderator", "api_key", "insufficient_scope", "insufficient_role",
           "banned", "login_required", "not_a_member", "secret", "policy_not_accepted", "soft_banned",
           "hub_moderator", "granted_by_override", "missing_entitlement", "missing_tag", "not_in_segment",
           "drip_locked", "allowed", "unknown_condition", "not_a_space_member", "posting_restricted"}


def test_every_reason_code_is_covered() -> None:
    assert {c.expect[1] for c in CASES} == REASONS


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_decision(c: Case) -> None:
    d = decide(c.subject, c.action, c.facts, c.now)
    assert (d.allowed, d.reason, d.unlock_at, d.hidden) == c.expect
    assert d.trace == ()
    assert d == Decision(*c.expect)
