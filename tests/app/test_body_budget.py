"""The bytes-in-flight budget that bounds the app's memory under a flood of large events."""

from __future__ import annotations

from app.web import BodyBudget


def test_reservations_beyond_the_limit_are_refused_until_bytes_are_given_back():
    budget = BodyBudget(1000)
    assert budget.reserve(600)
    assert budget.reserve(400)
    assert not budget.reserve(1)
    budget.release(400)
    assert budget.reserve(300)
    assert budget.in_use == 900


def test_a_request_alone_is_always_admitted_whatever_its_size():
    budget = BodyBudget(1000)
    assert budget.reserve(5000)
    assert not budget.reserve(1)
    budget.release(5000)
    assert budget.in_use == 0
