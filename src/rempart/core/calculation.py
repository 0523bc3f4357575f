"""How a bill splits between public insurer (AMO), complementary insurer (AMC) and patient.

Pure arithmetic on integer cents, through `decimal.Decimal` wherever a rate multiplies
an amount. The rules, in order:

1. AMO share = base tariff (BR) × AMO rate, rounded to the cent, never above the bill.
2. AMC share under the guarantee, never above what the AMO share left of the bill:
   - base_share: the guarantee's rate × BR (rounded to the cent) minus the AMO share,
     because French guarantees quote "n % BR" as what AMO and AMC pay together;
   - flat: the flat amount;
   - ceiling: what is left of the bill, up to the ceiling.
3. The AMC share never exceeds what is left of a periodic allowance.
4. Patient remainder = bill − AMO share − AMC share.

Rounding: each product of a rate and an amount is rounded once to the cent, half up
(ROUND_HALF_UP, "arrondi au centime le plus proche", the rule of French invoicing and of
the public insurer's statements). Every other step is an exact integer operation (min,
max, subtraction), so the three shares always add up to the bill to the cent and no cap
is ever exceeded by a rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

from rempart.core.care import GuaranteeKind
from rempart.core.errors import RempartError

BASIS_POINTS = 10_000  # 10,000 basis points = 100 %
MAX_AMO_RATE_BP = BASIS_POINTS
# Rates are products of at most ~12 digits; 34 digits of precision keep them exact.
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_UP)
_CENT = Decimal(1)


class InvalidAmount(RempartError):
    """An amount or rate is outside what the calculation accepts; names the field only."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Bill:
    """What the provider bills and what the public insurer's rules say about the act."""

    billed_cents: int
    base_tariff_cents: int
    amo_rate_bp: int


@dataclass(frozen=True, slots=True)
class GuaranteeTerms:
    """How the complementary insurer pays for the act (see GuaranteeKind)."""

    kind: GuaranteeKind
    rate_bp: int | None = None
    amount_cents: int | None = None


@dataclass(frozen=True, slots=True)
class Split:
    billed_cents: int
    amo_cents: int
    amc_cents: int
    patient_cents: int
    # What is left of the periodic allowance after this act; None without an allowance.
    allowance_remaining_cents: int | None


def rate_of(amount_cents: int, rate_bp: int) -> int:
    """amount × rate, rounded half up to the cent."""
    product = _CONTEXT.divide(_CONTEXT.multiply(Decimal(amount_cents), Decimal(rate_bp)),
                              Decimal(BASIS_POINTS))
    return int(product.quantize(_CENT, rounding=ROUND_HALF_UP, context=_CONTEXT))


def split_bill(bill: Bill, terms: GuaranteeTerms | None, *,
               allowance_remaining_cents: int | None = None) -> Split:
    """Split a bill; `terms` None means no guarantee applies (the AMC pays nothing)."""
    _check_bill(bill)
    if allowance_remaining_cents is not None and allowance_remaining_cents < 0:
        raise InvalidAmount("allowance_remaining_cents", "must not be negative")
    amo = min(rate_of(bill.base_tariff_cents, bill.amo_rate_bp), bill.billed_cents)
    left = bill.billed_cents - amo
    amc = 0 if terms is None else min(_guarantee_share(terms, bill, amo, left), left)
    if allowance_remaining_cents is not None:
        amc = min(amc, allowance_remaining_cents)
    remaining = None if allowance_remaining_cents is None else allowance_remaining_cents - amc
    return Split(billed_cents=bill.billed_cents, amo_cents=amo, amc_cents=amc,
                 patient_cents=left - amc, allowance_remaining_cents=remaining)


def _guarantee_share(terms: GuaranteeTerms, bill: Bill, amo: int, left: int) -> int:
    if terms.kind is GuaranteeKind.BASE_SHARE:
        rate = _required(terms.rate_bp, "rate_bp")
        return max(rate_of(bill.base_tariff_cents, rate) - amo, 0)
    amount = _required(terms.amount_cents, "amount_cents")
    if terms.kind is GuaranteeKind.FLAT:
        return amount
    return min(left, amount)


def _required(value: int | None, field: str) -> int:
    if value is None:
        raise InvalidAmount(field, "the guarantee does not define it")
    if value < 0:
        raise InvalidAmount(field, "must not be negative")
    return value


def _check_bill(bill: Bill) -> None:
    if bill.billed_cents < 0:
        raise InvalidAmount("billed_cents", "must not be negative")
    if bill.base_tariff_cents < 0:
        raise InvalidAmount("base_tariff_cents", "must not be negative")
    if not 0 <= bill.amo_rate_bp <= MAX_AMO_RATE_BP:
        raise InvalidAmount("amo_rate_bp", "must be between 0 and 10000 basis points")
