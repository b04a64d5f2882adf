"""The daily budget of language-model calls, shared by every worker (issue 13).

Why: a storm of exceptions (a carrier outage opens thousands) must not turn into
an unbounded bill. Before each call a worker asks `budget_check` with the size it
expects the request to be; after the call it reports what the call really used
with `budget_charge`. Past AI_MAX_DAILY_TOKENS or AI_MAX_DAILY_COST_USD the check
refuses and the rules write the notes until the next UTC day.

The counters are `AiDailySpend` rows in the database (one overall, one per tenant
and day), incremented in the database (`SET x = x + n`) so workers on any number
of machines never lose each other's charges, and never cached in Redis, so a Redis
restart does not reset the day's spend.

The check is not a reservation: workers checking at the same moment may each be
allowed one call, so the day can end over its limit by at most one call per
concurrently running worker. Prices are USD per million tokens, in Decimal.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import UTC, date
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from prometheus_client import Gauge

from .models import AiDailySpend

MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.00000001")  # the precision of AiDailySpend.cost_usd
_FALLBACK_PRICE = (Decimal("1.00"), Decimal("3.00"))  # should AI_MODEL_PRICES lose "*"

REMAINING_TOKENS = Gauge(
    "e2a_ai_budget_remaining_tokens",
    "Tokens left in today's (UTC) overall AI budget, as of the last check or charge.",
    multiprocess_mode="livemostrecent",
)
REMAINING_USD = Gauge(
    "e2a_ai_budget_remaining_usd",
    "US dollars left in today's (UTC) overall AI budget, as of the last check or charge.",
    multiprocess_mode="livemostrecent",
)

# Why a check refused (BudgetDecision.reason); "ok" when it did not.
OK = "ok"
DAILY_TOKENS = "daily_tokens"
DAILY_COST = "daily_cost"
TENANT_DAILY_TOKENS = "tenant_daily_tokens"
TENANT_DAILY_COST = "tenant_daily_cost"


@dataclass(frozen=True)
class Spend:
    """What one counter row holds (all zero before the day's first call)."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal("0")
    calls: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True)
class BudgetDecision:
    """May the model be called for a request of the expected size, and what is left.

    `remaining_*` are the tighter of the overall and (when set) the tenant's limits,
    before this request; never below zero.
    """

    allowed: bool
    remaining_tokens: int
    remaining_cost_usd: Decimal
    reason: str
    expected_cost_usd: Decimal


@dataclass(frozen=True)
class BudgetCharge:
    """One call's charge and the day's totals right after it."""

    day: date
    cost_usd: Decimal
    overall: Spend
    tenant: Spend


def today() -> date:
    """The budget's day: UTC, whatever the tenants' time zones."""
    return timezone.now().astimezone(UTC).date()


def price_for(model: str) -> tuple[Decimal, Decimal]:
    """USD per million (input, output) tokens of `model`.

    An exact name wins, then the longest matching pattern ("*:free"), then the
    conservative "*" entry: an unknown model is never priced as free.
    """
    table: dict[str, tuple[Decimal, Decimal]] = settings.AI_MODEL_PRICES
    if model in table:
        return table[model]
    patterns = [p for p in table if p != "*" and any(c in p for c in "*?[")]
    matching = [p for p in patterns if fnmatch.fnmatchcase(model, p)]
    if matching:
        return table[max(matching, key=len)]
    return table.get("*", _FALLBACK_PRICE)


def _usd(amount: Decimal) -> Decimal:
    return amount.quantize(CENT_FRACTION, rounding=ROUND_HALF_UP)


def cost_of(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """What a call of this size costs by the price table, in USD."""
    price_in, price_out = price_for(model)
    return _usd((prompt_tokens * price_in + completion_tokens * price_out) / MILLION)


def _expected_cost(model: str, expected_tokens: int) -> Decimal:
    """The most a request of `expected_tokens` can cost: every token at the dearer price.

    The split between prompt and completion is not known before the call; pricing
    it at the worst case means a check never allows a call that breaks the limit.
    """
    return _usd(expected_tokens * max(price_for(model)) / MILLION)


def _spend(row: dict | None) -> Spend:
    if row is None:
        return Spend()
    return Spend(
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
        cost_usd=_usd(Decimal(row["cost_usd"])),
        calls=row["calls"],
    )


_SPEND_FIELDS = ("tenant_id", "tokens_in", "tokens_out", "cost_usd", "calls")


def _publish(overall: Spend) -> None:
    REMAINING_TOKENS.set(max(settings.AI_MAX_DAILY_TOKENS - overall.tokens, 0))
    REMAINING_USD.set(float(max(settings.AI_MAX_DAILY_COST_USD - overall.cost_usd, Decimal(0))))


def budget_check(*, tenant_id: int, expected_tokens: int, model: str) -> BudgetDecision:
    """Would a call of `expected_tokens` (prompt plus the completion's maximum) stay
    within today's budget, overall and for this tenant?

    A limit already reached refuses even a request of zero tokens; a limit of 0
    refuses every call (the switch that turns the model off).
    """
    rows = {
        row["tenant_id"]: row
        for row in AiDailySpend.objects.filter(day=today())
        .filter(Q(tenant__isnull=True) | Q(tenant_id=tenant_id))
        .values(*_SPEND_FIELDS)
    }
    overall, tenant = _spend(rows.get(None)), _spend(rows.get(tenant_id))
    _publish(overall)
    expected_tokens = max(expected_tokens, 0)
    expected_cost = _expected_cost(model, expected_tokens)

    # (reason, limit, spent so far, what this request adds); the first one broken wins.
    limits: list[tuple[str, int | Decimal, int | Decimal, int | Decimal]] = [
        (DAILY_TOKENS, settings.AI_MAX_DAILY_TOKENS, overall.tokens, expected_tokens),
        (DAILY_COST, settings.AI_MAX_DAILY_COST_USD, overall.cost_usd, expected_cost),
    ]
    if settings.AI_MAX_DAILY_TOKENS_PER_TENANT is not None:
        limits.append(
            (
                TENANT_DAILY_TOKENS,
                settings.AI_MAX_DAILY_TOKENS_PER_TENANT,
                tenant.tokens,
                expected_tokens,
            )
        )
    if settings.AI_MAX_DAILY_COST_USD_PER_TENANT is not None:
        limits.append(
            (
                TENANT_DAILY_COST,
                settings.AI_MAX_DAILY_COST_USD_PER_TENANT,
                tenant.cost_usd,
                expected_cost,
            )
        )
    reason = next(
        (name for name, limit, spent, adds in limits if spent >= limit or spent + adds > limit),
        OK,
    )
    token_limits = [limit - spent for name, limit, spent, _ in limits if "tokens" in name]
    cost_limits = [limit - spent for name, limit, spent, _ in limits if "cost" in name]
    return BudgetDecision(
        allowed=reason == OK,
        remaining_tokens=max(int(min(token_limits)), 0),
        remaining_cost_usd=_usd(max(Decimal(min(cost_limits)), Decimal(0))),
        reason=reason,
        expected_cost_usd=expected_cost,
    )


def _add(
    *, day: date, tenant_id: int | None, tokens_in: int, tokens_out: int, cost: Decimal
) -> Spend:
    """Add one call to a counter row, creating the row for the day's first call.

    The increment happens in the database, so it cannot be lost to a concurrent
    worker; the unique constraint settles two workers creating the same row at
    once (the loser adds to the winner's row). Reading the row back in the same
    transaction is as good as `RETURNING`: the UPDATE holds its lock until commit.
    """
    rows = AiDailySpend.objects.filter(day=day, tenant_id=tenant_id)
    changes = {
        "tokens_in": F("tokens_in") + tokens_in,
        "tokens_out": F("tokens_out") + tokens_out,
        "cost_usd": F("cost_usd") + cost,
        "calls": F("calls") + 1,
        "updated_at": timezone.now(),
    }
    if not rows.update(**changes):
        try:
            with transaction.atomic():
                AiDailySpend.objects.create(
                    day=day,
                    tenant_id=tenant_id,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=cost,
                    calls=1,
                    updated_at=timezone.now(),
                )
        except IntegrityError:
            rows.update(**changes)  # another worker created it a moment ago
    return _spend(rows.values(*_SPEND_FIELDS).get())


def budget_charge(
    *,
    tenant_id: int,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal | None = None,
) -> BudgetCharge:
    """Charge one finished call to today's overall and tenant counters.

    `cost_usd` is the provider's own figure for the call when it reports one
    (OpenRouter does); otherwise the price table's. Both rows change in one
    transaction, overall row first in every worker, so concurrent charges cannot
    deadlock.
    """
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts cannot be negative")
    if cost_usd is not None and (not Decimal(cost_usd).is_finite() or cost_usd < 0):
        raise ValueError(f"provider cost must be a finite amount not below 0, not {cost_usd}")
    cost = (
        _usd(Decimal(cost_usd))
        if cost_usd is not None
        else cost_of(model, prompt_tokens, completion_tokens)
    )
    day = today()
    usage = {"day": day, "tokens_in": prompt_tokens, "tokens_out": completion_tokens, "cost": cost}
    with transaction.atomic():
        overall = _add(tenant_id=None, **usage)
        tenant = _add(tenant_id=tenant_id, **usage)
    _publish(overall)
    return BudgetCharge(day=day, cost_usd=cost, overall=overall, tenant=tenant)
