"""The pure split of a bill between AMO, AMC and patient (rempart.core.calculation)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.core.calculation import (
    Bill,
    GuaranteeTerms,
    InvalidAmount,
    rate_of,
    split_bill,
)
from rempart.core.care import GuaranteeKind

BASE = GuaranteeKind.BASE_SHARE
FLAT = GuaranteeKind.FLAT
CEILING = GuaranteeKind.CEILING


def test_a_hundred_percent_of_the_base_tariff_includes_the_public_share() -> None:
    split = split_bill(Bill(billed_cents=3000, base_tariff_cents=2500, amo_rate_bp=7000),
                       GuaranteeTerms(BASE, rate_bp=10_000))
    assert (split.amo_cents, split.amc_cents, split.patient_cents) == (1750, 750, 500)
    assert split.allowance_remaining_cents is None


def test_base_share_above_the_bill_pays_only_what_is_left() -> None:
    split = split_bill(Bill(billed_cents=4000, base_tariff_cents=2500, amo_rate_bp=6000),
                       GuaranteeTerms(BASE, rate_bp=30_000))
    # 300 % BR = 75.00 minus 15.00 AMO would be 60.00, but only 25.00 is left to pay.
    assert (split.amo_cents, split.amc_cents, split.patient_cents) == (1500, 2500, 0)


def test_flat_and_ceiling() -> None:
    bill = Bill(billed_cents=50_000, base_tariff_cents=10_000, amo_rate_bp=6000)
    flat = split_bill(bill, GuaranteeTerms(FLAT, amount_cents=15_000))
    assert (flat.amo_cents, flat.amc_cents, flat.patient_cents) == (6000, 15_000, 29_000)
    ceiling = split_bill(bill, GuaranteeTerms(CEILING, amount_cents=30_000))
    assert (ceiling.amc_cents, ceiling.patient_cents) == (30_000, 14_000)
    small = split_bill(Bill(billed_cents=20_000, base_tariff_cents=10_000, amo_rate_bp=6000),
                       GuaranteeTerms(CEILING, amount_cents=30_000))
    assert (small.amc_cents, small.patient_cents) == (14_000, 0)


def test_allowance_caps_the_share_and_reports_what_is_left() -> None:
    bill = Bill(billed_cents=50_000, base_tariff_cents=10_000, amo_rate_bp=6000)
    capped = split_bill(bill, GuaranteeTerms(FLAT, amount_cents=15_000),
                        allowance_remaining_cents=4_000)
    assert (capped.amc_cents, capped.allowance_remaining_cents) == (4_000, 0)
    assert capped.patient_cents == 40_000
    roomy = split_bill(bill, GuaranteeTerms(FLAT, amount_cents=15_000),
                       allowance_remaining_cents=40_000)
    assert (roomy.amc_cents, roomy.allowance_remaining_cents) == (15_000, 25_000)


def test_no_guarantee_means_the_amc_pays_nothing() -> None:
    split = split_bill(Bill(billed_cents=1000, base_tariff_cents=1000, amo_rate_bp=7000), None)
    assert (split.amo_cents, split.amc_cents, split.patient_cents) == (700, 0, 300)


@pytest.mark.parametrize(("amount", "rate", "expected"), [
    (5, 5000, 3),  # 2.5 cents: half rounds up
    (1, 5000, 1),  # 0.5 cents
    (333, 7000, 233),  # 233.1
    (335, 7000, 235),  # 234.5
    (999, 3333, 333),  # 332.9667
    (0, 10_000, 0),
])
def test_rounding_is_half_up_to_the_cent(amount: int, rate: int, expected: int) -> None:
    assert rate_of(amount, rate) == expected


@pytest.mark.parametrize(("bill", "terms", "field"), [
    (Bill(-1, 0, 0), None, "billed_cents"),
    (Bill(0, -1, 0), None, "base_tariff_cents"),
    (Bill(0, 0, 10_001), None, "amo_rate_bp"),
    (Bill(10, 10, 0), GuaranteeTerms(BASE), "rate_bp"),
    (Bill(10, 10, 0), GuaranteeTerms(FLAT), "amount_cents"),
    (Bill(10, 10, 0), GuaranteeTerms(CEILING, amount_cents=-5), "amount_cents"),
])
def test_bad_input_names_the_field(bill: Bill, terms: GuaranteeTerms | None, field: str) -> None:
    with pytest.raises(InvalidAmount) as raised:
        split_bill(bill, terms)
    assert raised.value.field == field


amounts = st.integers(min_value=0, max_value=10_000_000)
terms = st.one_of(
    st.none(),
    st.builds(GuaranteeTerms, kind=st.just(BASE), rate_bp=st.integers(0, 100_000)),
    st.builds(GuaranteeTerms, kind=st.sampled_from([FLAT, CEILING]), amount_cents=amounts),
)
bills = st.builds(Bill, billed_cents=amounts, base_tariff_cents=amounts,
                  amo_rate_bp=st.integers(0, 10_000))


@given(bill=bills, terms=terms, allowance=st.one_of(st.none(), amounts))
def test_shares_are_never_negative_and_add_up_to_the_bill(
        bill: Bill, terms: GuaranteeTerms | None, allowance: int | None) -> None:
    split = split_bill(bill, terms, allowance_remaining_cents=allowance)
    assert min(split.amo_cents, split.amc_cents, split.patient_cents) >= 0
    assert split.amo_cents + split.amc_cents + split.patient_cents == bill.billed_cents
    if allowance is not None:
        assert split.amc_cents <= allowance
        assert split.allowance_remaining_cents == allowance - split.amc_cents
    if terms is not None and terms.kind is not BASE:
        assert terms.amount_cents is not None
        assert split.amc_cents <= terms.amount_cents
    if terms is None:
        assert split.amc_cents == 0


@given(bill=bills, rate=st.integers(0, 100_000))
def test_base_share_pays_the_rate_minus_the_public_share(bill: Bill, rate: int) -> None:
    split = split_bill(bill, GuaranteeTerms(BASE, rate_bp=rate))
    promised = max(_half_up(Fraction(bill.base_tariff_cents * rate, 10_000)) - split.amo_cents, 0)
    assert split.amc_cents == min(promised, bill.billed_cents - split.amo_cents)


@given(amount=amounts, rate=st.integers(0, 100_000))
def test_rate_of_agrees_with_exact_fractions(amount: int, rate: int) -> None:
    assert rate_of(amount, rate) == _half_up(Fraction(amount * rate, 10_000))


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))
