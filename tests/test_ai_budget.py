"""The daily budget of language-model calls, shared by all workers (issue 13).

Operators notice it as: the day's model bill stops at the configured tokens and
dollars (overall, and per merchant when set), whatever the number of workers, and
restarting Redis does not hand the day's budget out again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from prometheus_client import REGISTRY

from ai.budget import (
    DAILY_COST,
    DAILY_TOKENS,
    OK,
    TENANT_DAILY_TOKENS,
    budget_charge,
    budget_check,
    cost_of,
    price_for,
    today,
)
from ai.models import AiDailySpend
from e2a_project.settings import _ai_model_prices
from tests.concurrency import at_once
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parent.parent
MINI = "openai/gpt-4o-mini"  # 0.15 / 0.60 USD per million tokens


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AI_MAX_DAILY_TOKENS = 200_000
    settings.AI_MAX_DAILY_COST_USD = Decimal("20")
    settings.AI_MAX_DAILY_TOKENS_PER_TENANT = None
    settings.AI_MAX_DAILY_COST_USD_PER_TENANT = None


def row(tenant=None) -> AiDailySpend:
    return AiDailySpend.objects.get(day=today(), tenant=tenant)


def test_prices_come_from_the_table_in_decimal():
    assert price_for(MINI) == (Decimal("0.15"), Decimal("0.60"))
    assert price_for("gpt-4o-mini") == price_for(MINI)
    assert price_for("openai/gpt-4o") == (Decimal("2.50"), Decimal("10.00"))
    assert price_for("anthropic/claude-3.5-haiku") == (Decimal("0.80"), Decimal("4.00"))
    # never free by accident: an unknown model costs the conservative default
    assert price_for("someone/new-model") == (Decimal("1.00"), Decimal("3.00"))
    assert price_for("meta-llama/llama-3.1-8b-instruct:free") == (Decimal(0), Decimal(0))
    assert price_for("llama3.1:8b") == (Decimal(0), Decimal(0))
    assert cost_of(MINI, 1_000_000, 1_000_000) == Decimal("0.75")
    assert cost_of(MINI, 1000, 500) == Decimal("0.00045")


def test_price_table_overridden_by_settings(settings):
    settings.AI_MODEL_PRICES = {
        **settings.AI_MODEL_PRICES,
        "my-local-model": (Decimal(0), Decimal(0)),
        MINI: (Decimal("1"), Decimal("2")),
    }
    assert cost_of("my-local-model", 5000, 5000) == Decimal(0)
    assert cost_of(MINI, 1_000_000, 1_000_000) == Decimal("3")


def test_price_table_override_from_the_environment_is_exact():
    table = _ai_model_prices('{"llama3.1:70b": [0, 0], "openai/gpt-4o-mini": [0.1, 0.3]}')
    assert table["llama3.1:70b"] == (Decimal(0), Decimal(0))
    assert table["openai/gpt-4o-mini"] == (Decimal("0.1"), Decimal("0.3"))  # not 0.1000…0055
    assert table["openai/gpt-4o"] == (Decimal("2.50"), Decimal("10.00"))  # defaults stay
    for bad in ('["x"]', '{"m": [1]}', '{"m": [-1, 2]}', '{"m": ["x", 1]}', "{"):
        with pytest.raises(ImproperlyConfigured, match="AI_MODEL_PRICES"):
            _ai_model_prices(bad)


def test_a_charge_counts_on_the_overall_and_the_tenant_row():
    acme, globex = TenantFactory(), TenantFactory()
    budget_charge(tenant_id=acme.id, model=MINI, prompt_tokens=1000, completion_tokens=500)
    budget_charge(tenant_id=acme.id, model=MINI, prompt_tokens=2000, completion_tokens=100)
    charge = budget_charge(tenant_id=globex.id, model=MINI, prompt_tokens=10, completion_tokens=20)

    mine = row(acme)
    assert (mine.tokens_in, mine.tokens_out, mine.calls) == (3000, 600, 2)
    assert mine.cost_usd == Decimal("0.00045") + Decimal("0.00036")
    overall = row()
    assert (overall.tokens_in, overall.tokens_out, overall.calls) == (3010, 620, 3)
    assert overall.cost_usd == mine.cost_usd + row(globex).cost_usd
    assert charge.overall.tokens == 3630 and charge.tenant.tokens == 30
    assert charge.overall.cost_usd == overall.cost_usd
    assert AiDailySpend.objects.count() == 3


def test_the_providers_reported_cost_is_charged_when_given():
    tenant = TenantFactory()
    charge = budget_charge(
        tenant_id=tenant.id,
        model=MINI,
        prompt_tokens=1000,
        completion_tokens=1000,
        cost_usd=Decimal("0.0123"),
    )
    assert charge.cost_usd == Decimal("0.0123")
    assert row(tenant).cost_usd == row().cost_usd == Decimal("0.0123")
    with pytest.raises(ValueError, match="provider cost"):
        budget_charge(
            tenant_id=tenant.id,
            model=MINI,
            prompt_tokens=1,
            completion_tokens=1,
            cost_usd=Decimal("-1"),
        )


def test_small_costs_add_up_exactly():
    tenant = TenantFactory()
    for _ in range(10):
        budget_charge(
            tenant_id=tenant.id,
            model=MINI,
            prompt_tokens=1,
            completion_tokens=1,
            cost_usd=Decimal("0.1"),
        )
    assert row().cost_usd == Decimal("1.0")  # not 0.9999999999999999


def test_check_refuses_once_tokens_would_exceed_the_limit(settings):
    settings.AI_MAX_DAILY_TOKENS = 1000
    tenant = TenantFactory()
    budget_charge(tenant_id=tenant.id, model=MINI, prompt_tokens=600, completion_tokens=300)

    fits = budget_check(tenant_id=tenant.id, expected_tokens=100, model=MINI)
    assert (fits.allowed, fits.reason, fits.remaining_tokens) == (True, OK, 100)
    too_big = budget_check(tenant_id=tenant.id, expected_tokens=101, model=MINI)
    assert (too_big.allowed, too_big.reason) == (False, DAILY_TOKENS)

    budget_charge(tenant_id=tenant.id, model=MINI, prompt_tokens=100, completion_tokens=50)
    spent = budget_check(tenant_id=tenant.id, expected_tokens=0, model=MINI)
    assert (spent.allowed, spent.reason, spent.remaining_tokens) == (False, DAILY_TOKENS, 0)
    assert REGISTRY.get_sample_value("e2a_ai_budget_remaining_tokens") == 0


def test_check_refuses_once_the_cost_would_exceed_the_limit(settings):
    settings.AI_MAX_DAILY_COST_USD = Decimal("0.01")
    tenant = TenantFactory()
    budget_charge(
        tenant_id=tenant.id,
        model=MINI,
        prompt_tokens=10,
        completion_tokens=10,
        cost_usd=Decimal("0.009"),
    )
    # 1000 tokens cost at most 1000 × 0.60 / 1M = 0.0006 (priced at the dearer rate)
    fits = budget_check(tenant_id=tenant.id, expected_tokens=1000, model=MINI)
    assert fits.allowed and fits.expected_cost_usd == Decimal("0.0006")
    assert fits.remaining_cost_usd == Decimal("0.001")
    assert REGISTRY.get_sample_value("e2a_ai_budget_remaining_usd") == pytest.approx(0.001)
    # 2000 tokens: 0.0012 would overshoot the dollar limit while tokens are plentiful
    over = budget_check(tenant_id=tenant.id, expected_tokens=2000, model=MINI)
    assert (over.allowed, over.reason) == (False, DAILY_COST)
    # a free local model is not stopped by the dollar limit
    assert budget_check(tenant_id=tenant.id, expected_tokens=2000, model="llama3.1:8b").allowed


def test_a_zero_limit_turns_the_model_off(settings):
    settings.AI_MAX_DAILY_TOKENS = 0
    decision = budget_check(tenant_id=TenantFactory().id, expected_tokens=0, model=MINI)
    assert not decision.allowed and decision.reason == DAILY_TOKENS


def test_per_tenant_limit_stops_one_tenant_and_not_the_others(settings):
    settings.AI_MAX_DAILY_TOKENS_PER_TENANT = 500
    noisy, quiet = TenantFactory(), TenantFactory()
    budget_charge(tenant_id=noisy.id, model=MINI, prompt_tokens=400, completion_tokens=100)

    stopped = budget_check(tenant_id=noisy.id, expected_tokens=10, model=MINI)
    assert (stopped.allowed, stopped.reason, stopped.remaining_tokens) == (
        False,
        TENANT_DAILY_TOKENS,
        0,
    )
    other = budget_check(tenant_id=quiet.id, expected_tokens=10, model=MINI)
    assert other.allowed and other.remaining_tokens == 500


def test_each_utc_day_starts_afresh(settings):
    settings.AI_MAX_DAILY_TOKENS = 1000
    tenant = TenantFactory()
    with time_machine.travel(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), tick=False):
        budget_charge(tenant_id=tenant.id, model=MINI, prompt_tokens=900, completion_tokens=100)
        assert not budget_check(tenant_id=tenant.id, expected_tokens=1, model=MINI).allowed
    with time_machine.travel(datetime(2026, 3, 2, 0, 5, tzinfo=UTC), tick=False):
        assert budget_check(tenant_id=tenant.id, expected_tokens=1000, model=MINI).allowed
    assert set(AiDailySpend.objects.values_list("day", flat=True)) == {
        datetime(2026, 3, 1).date()  # checks write nothing
    }


def test_one_overall_row_per_day_even_though_its_tenant_is_null():
    AiDailySpend.objects.create(day=today(), tenant=None, updated_at=datetime.now(UTC))
    with pytest.raises(IntegrityError):
        AiDailySpend.objects.create(day=today(), tenant=None, updated_at=datetime.now(UTC))


def test_the_budget_does_not_live_in_redis_or_the_cache(settings):
    settings.AI_MAX_DAILY_TOKENS = 1000
    tenant = TenantFactory()
    budget_charge(tenant_id=tenant.id, model=MINI, prompt_tokens=900, completion_tokens=0)
    before = budget_check(tenant_id=tenant.id, expected_tokens=200, model=MINI)
    cache.clear()
    settings.REDIS_URL = "redis://127.0.0.1:1/13"  # another (here: no) Redis
    after = budget_check(tenant_id=tenant.id, expected_tokens=200, model=MINI)
    assert after == before and not after.allowed and after.remaining_tokens == 100


@pytest.mark.redis
def test_flushing_redis_does_not_reset_the_days_spend(settings):
    url = urlunsplit(urlsplit(os.environ["REDIS_URL"])._replace(path="/13"))
    settings.REDIS_URL = url
    settings.AI_MAX_DAILY_TOKENS = 1000
    tenant = TenantFactory()
    budget_charge(tenant_id=tenant.id, model=MINI, prompt_tokens=1000, completion_tokens=0)
    redis.Redis.from_url(url).flushdb()
    decision = budget_check(tenant_id=tenant.id, expected_tokens=1, model=MINI)
    assert (decision.allowed, decision.reason) == (False, DAILY_TOKENS)
    assert row().tokens_in == 1000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_from_threads_never_lose_an_increment():
    tenant = TenantFactory()

    def charge() -> None:
        for _ in range(5):
            budget_charge(tenant_id=tenant.id, model=MINI, prompt_tokens=3, completion_tokens=2)

    at_once(charge, threads=8)
    for counted in (row(), row(tenant)):
        assert (counted.calls, counted.tokens_in, counted.tokens_out) == (40, 120, 80)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_charges_from_two_worker_processes_add_up(settings):
    """Two processes charge the same day's rows at once, from the first call on."""
    tenant = TenantFactory()
    database = settings.DATABASES["default"]["NAME"]  # the test database
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "e2a_project.settings",
        "DATABASE_URL": urlunsplit(
            urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{database}")
        ),
        "START_AT": str(time.time() + 3),  # past both processes' Django start-up
    }
    code = textwrap.dedent(
        f"""
        import os, time
        from decimal import Decimal
        import django
        django.setup()
        from ai.budget import budget_charge
        time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
        for _ in range(30):
            budget_charge(tenant_id={tenant.id}, model="{MINI}", prompt_tokens=10,
                          completion_tokens=5, cost_usd=Decimal("0.001"))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for counted in (row(), row(tenant)):
        assert (counted.calls, counted.tokens_in, counted.tokens_out) == (60, 600, 300)
        assert counted.cost_usd == Decimal("0.060")
