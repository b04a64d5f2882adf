"""Orders and their event timelines, made from one `random.Random(seed)`.

Nothing here touches the database or the clock: the caller passes the times, so
the same seed and the same `now` always make the same events (tests and the
detection score rely on that). Clean orders keep every stage well inside the
default SLA before any multiplier (pick ≤ 120 min, pack ≤ 180, ship ≤ 24 h,
delivery within its business days); a delayed stage is late even after the
largest product of multipliers the policy can apply, so what is meant clean is
clean and what is meant late is late.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from . import catalog

# The largest multiplier the default policy can stack on one stage: weekend,
# high volume, peak season and every handling flag (hazmat × oversized × fragile).
WORST_MULTIPLIER = 1.5 * 1.3 * 1.4 * 2.0 * 1.5 * 1.2
# Relative order rate by local hour: night lull, morning rise, lunch dip, evening.
HOUR_WEIGHTS = [
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0, 0.9,
    0.6, 0.65, 0.9, 1.0, 0.95, 0.85, 0.8, 0.85, 0.75, 0.55, 0.35, 0.2,
]  # fmt: skip
WEEKEND_WEIGHT = 0.55


@dataclass(slots=True)
class GeneratedEvent:
    """One event to deliver: the contract body, or a native Shopify webhook."""

    occurred_at: datetime
    body: dict[str, Any]  # the event contract (also for Shopify, as a fallback)
    shopify_topic: str = ""  # set: may go as a native webhook with this topic
    shopify_body: dict[str, Any] | None = None
    webhook_id: str = ""


@dataclass(slots=True)
class GeneratedOrder:
    order_id: str
    placed_at: datetime
    problem: str | None  # a key of catalog.PROBLEM_REASONS, None when clean
    events: list[GeneratedEvent] = field(default_factory=list)
    # When the problem has happened: the event that shows it (the late scan, the
    # report, the bad address) or, for a missing scan, the later scan. A scorer
    # counts a problem as detectable once E²A's clock has passed this time (plus
    # the policy's grace for missing scans).
    problem_at: datetime | None = None

    @property
    def expected_reason(self) -> str | None:
        return catalog.PROBLEM_REASONS[self.problem] if self.problem else None


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _money(cents: int) -> str:
    return str(Decimal(cents) / 100)


class Generator:
    """Makes orders one after another; all randomness comes from `self.rng`."""

    def __init__(
        self, *, seed: int, problem_share: float = catalog.PROBLEM_SHARE, timezone: str = "UTC"
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        self.problem_share = problem_share
        self.tz = ZoneInfo(timezone)
        # Order numbers start at a seed-dependent point so runs with different
        # seeds do not collide; the same seed makes the same ids (duplicates).
        self._next_number = self.rng.randrange(100_000, 900_000, 1000)
        self._kind_bag: list[str] = []

    # --- randomness helpers -------------------------------------------------------
    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    def _problem(self) -> str | None:
        """Problem or not by the share; kinds from a shuffled bag, so each is made."""
        if self.rng.random() >= self.problem_share:
            return None
        if not self._kind_bag:
            self._kind_bag = list(catalog.PROBLEM_KINDS)
            self.rng.shuffle(self._kind_bag)
        return self._kind_bag.pop()

    # --- when orders are placed ---------------------------------------------------
    def placement_times(self, *, start: datetime, end: datetime, count: int) -> list[datetime]:
        """`count` times in [start, end), denser in shop hours and on weekdays."""
        span = (end - start).total_seconds()
        times: list[datetime] = []
        while len(times) < count and span > 0:
            at = start + timedelta(seconds=self.rng.uniform(0, span))
            local = at.astimezone(self.tz)
            weight = HOUR_WEIGHTS[local.hour] * (WEEKEND_WEIGHT if local.weekday() >= 5 else 1)
            if self.rng.random() < weight:
                times.append(at)
        return sorted(times)

    # --- one order ----------------------------------------------------------------
    def order(self, placed_at: datetime) -> GeneratedOrder:
        rng = self.rng
        problem = self._problem()
        number = self._next_number
        self._next_number += 1
        order_id = f"#D{number}"
        country = rng.choices(list(catalog.COUNTRIES), weights=[40, 20, 12, 10, 10, 8])[0]
        country_name, currency, phone_prefix, places = catalog.COUNTRIES[country]
        city, province, postal, street = rng.choice(places)
        first, last = rng.choice(catalog.FIRST_NAMES), rng.choice(catalog.LAST_NAMES)
        address: dict[str, Any] = {
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "company": None,
            "address1": f"{street} {rng.randint(1, 240)}",
            "address2": rng.choice([None, None, f"Apt {rng.randint(1, 40)}"]),
            "city": city,
            "province": None,
            "province_code": province,
            "zip": postal,
            "country": country_name,
            "country_code": country,
            "phone": f"{phone_prefix} {rng.randint(200, 999)} {rng.randint(1000000, 9999999)}",
        }
        if problem == "address_invalid":
            address["zip"] = rng.choice(catalog.BAD_POSTAL_CODES[country])
        elif problem == "address_error":
            address[rng.choice(["address1", "city"])] = rng.choice([None, ""])

        skus = rng.sample(list(catalog.PRODUCTS), k=rng.choices([1, 2, 3, 4], [45, 30, 17, 8])[0])
        line_items = []
        for sku in skus:
            title, price, grams = catalog.PRODUCTS[sku]
            quantity = rng.choices([1, 2, 3, 5], [65, 22, 9, 4])[0]
            line_items.append(
                {
                    "id": rng.randrange(10**13, 10**14),
                    "sku": sku,
                    "title": title,
                    "name": title,
                    "quantity": quantity,
                    "fulfillable_quantity": quantity,
                    "price": _money(price),
                    "grams": grams,
                    "requires_shipping": True,
                    "vendor": "Demo Goods",
                }
            )
        handling = sorted({catalog.PRODUCT_FLAGS[s] for s in skus if s in catalog.PRODUCT_FLAGS})
        if rng.random() < 0.05:
            handling.append("gift_wrap")
        level = rng.choices(
            list(catalog.SERVICE_LEVEL_WEIGHTS), list(catalog.SERVICE_LEVEL_WEIGHTS.values())
        )[0]
        carriers = ["USPS", "UPS", "FedEx"] if country == "US" else list(catalog.CARRIERS)
        carrier = rng.choice(carriers)
        subtotal = sum(catalog.PRODUCTS[i["sku"]][1] * i["quantity"] for i in line_items)
        shipping = {"standard": 590, "express": 1290, "overnight": 2490}[level]
        shopify_id = rng.randrange(5 * 10**12, 6 * 10**12)
        customer = {
            "id": rng.randrange(7 * 10**12, 8 * 10**12),
            "email": f"{first}.{last}@example.org".lower(),
            "first_name": first,
            "last_name": last,
            "phone": address["phone"].replace(" ", ""),
            "currency": currency,
            "verified_email": True,
            "tags": rng.choice(["", "repeat-buyer", "vip"]),
        }
        shop_order: dict[str, Any] = {
            "id": shopify_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{shopify_id}",
            "name": order_id,
            "order_number": number,
            "email": customer["email"],
            "created_at": _iso(placed_at),
            "updated_at": _iso(placed_at),
            "processed_at": _iso(placed_at),
            "currency": currency,
            "presentment_currency": currency,
            "financial_status": "pending",
            "fulfillment_status": None,
            "source_name": rng.choice(["web", "web", "pos", "shopify_draft_order"]),
            "payment_gateway_names": [rng.choice(["shopify_payments", "paypal", "klarna"])],
            "subtotal_price": _money(subtotal),
            "total_line_items_price": _money(subtotal),
            "total_price": _money(subtotal + shipping),
            "total_tax": "0.00",
            "total_weight": sum(i["grams"] * i["quantity"] for i in line_items),
            "tags": ", ".join(handling + (["rush"] if level == "overnight" else [])),
            "customer": customer,
            "billing_address": dict(address),
            "shipping_address": address,
            "line_items": line_items,
            "shipping_lines": [
                {
                    "id": rng.randrange(10**12, 10**13),
                    "code": catalog.CARRIERS[carrier][level].lower().replace(" ", "-"),
                    "title": catalog.CARRIERS[carrier][level],
                    "price": _money(shipping),
                    "source": "shopify",
                }
            ],
        }
        order = GeneratedOrder(order_id=order_id, placed_at=placed_at, problem=problem)
        _Timeline(self, order, shop_order, carrier=carrier, level=level, handling=handling).build()
        order.events.sort(key=lambda e: e.occurred_at)
        return order


class _Timeline:
    """The events of one order, stage by stage, with its problem worked in."""

    def __init__(
        self,
        gen: Generator,
        order: GeneratedOrder,
        shop_order: dict[str, Any],
        *,
        carrier: str,
        level: str,
        handling: list[str],
    ) -> None:
        self.gen, self.rng, self.order, self.shop = gen, gen.rng, order, shop_order
        self.carrier, self.level, self.handling = carrier, level, handling
        self.warehouse = gen.rng.choice(catalog.WAREHOUSES)
        self.tracking = self._tracking_number()

    def _tracking_number(self) -> str:
        rng = self.rng
        if self.carrier == "UPS":
            alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
            return "1Z" + "".join(rng.choice(alphabet) for _ in range(16))
        if self.carrier == "USPS":
            return "9400" + "".join(str(rng.randint(0, 9)) for _ in range(18))
        return "".join(str(rng.randint(0, 9)) for _ in range(12 if self.carrier == "FedEx" else 10))

    # --- emitting -----------------------------------------------------------------
    def _shopify(self, topic: str, event_type: str, at: datetime, **changes: Any) -> None:
        self.shop.update(changes, updated_at=_iso(at))
        body = {**self.shop}
        webhook_id = self.gen.new_id()
        event = {
            "source": "shopify",
            "event_type": event_type,
            "event_id": webhook_id,
            "order_id": self.order.order_id,
            "occurred_at": _iso(at),
            "data": {"order": body},
        }
        self.order.events.append(
            GeneratedEvent(at, event, shopify_topic=topic, shopify_body=body, webhook_id=webhook_id)
        )

    def _event(self, source: str, event_type: str, at: datetime, **fields: Any) -> None:
        body = {
            "source": source,
            "event_type": event_type,
            "event_id": f"{source}-{self.gen.new_id()}",
            "order_id": self.order.order_id,
            "occurred_at": _iso(at),
            **fields,
        }
        self.order.events.append(GeneratedEvent(at, body))

    def _wms(self, event_type: str, at: datetime, **payload: Any) -> None:
        rng = self.rng
        self._event(
            "wms",
            event_type,
            at,
            warehouse=self.warehouse,
            station=f"{event_type.split('_')[0].upper()}-{rng.randint(1, 12):02d}",
            worker_id=f"w-{rng.randint(1000, 1999)}",
            payload=payload,
        )

    def _carrier(self, event_type: str, at: datetime, **payload: Any) -> None:
        self._event(
            "carrier",
            event_type,
            at,
            carrier=self.carrier,
            tracking_number=self.tracking,
            service_level=self.level,
            payload=payload,
        )

    def _late(self, base_minutes: float) -> timedelta:
        """Late beyond any multiplier the policy could apply."""
        return timedelta(minutes=base_minutes * WORST_MULTIPLIER * self.rng.uniform(1.1, 1.6))

    # --- the warehouse's pace -----------------------------------------------------
    def _pace(self, at: datetime) -> float:
        """How much slower than a weekday morning the floor works at `at`: the night
        shift is thin, lunch dips, weekends run a skeleton crew."""
        local = at.astimezone(self.gen.tz)
        factor = 1.0
        if local.hour >= 22 or local.hour < 6:
            factor *= 1.6
        elif local.hour == 12:
            factor *= 1.35
        if local.weekday() >= 5:
            factor *= 1.3
        return factor

    def _work(self, at: datetime, low: float, high: float) -> timedelta:
        """A wait or a task's duration starting at `at`, stretched by the pace."""
        return self.gen.minutes(low, high) * self._pace(at)

    def _within(self, start: datetime, end: datetime, limit_minutes: float) -> datetime:
        """`end`, or a fresh time inside the first 60–90 % of the allowance when the
        pace pushed it past: a clean stage stays clean before any multiplier."""
        if end - start <= timedelta(minutes=0.9 * limit_minutes):
            return end
        return start + timedelta(minutes=limit_minutes * self.rng.uniform(0.6, 0.9))

    def _carrier_pickup(self, ready: datetime) -> datetime:
        """The next scheduled carrier collection (11:00 and 17:00 local, every day)
        at least 45 minutes after the parcel is ready, plus the driver's lateness."""
        earliest = ready + timedelta(minutes=45)
        local = earliest.astimezone(self.gen.tz)
        for day in range(2):
            for hour in catalog.CARRIER_PICKUP_HOURS:
                slot = (local + timedelta(days=day)).replace(
                    hour=hour, minute=0, second=0, microsecond=0
                )
                if slot >= local:
                    return slot.astimezone(ready.tzinfo) + self.gen.minutes(0, 40)
        raise AssertionError("a collection is always within two days")  # pragma: no cover

    # --- the story ----------------------------------------------------------------
    def build(self) -> None:
        rng, problem, placed = self.rng, self.order.problem, self.order.placed_at
        self._shopify("orders/create", "order_created", placed)
        if problem in ("address_invalid", "address_error"):
            self.order.problem_at = placed
        if problem == "payment_failed":
            at = placed + self.gen.minutes(2, 90)
            self._shopify(
                "orders/updated",
                "order_updated",
                at,
                financial_status=rng.choice(catalog.PAYMENT_STATUSES),
                note=rng.choice(catalog.PAYMENT_TEXTS),
            )
            self.order.problem_at = at
            return  # the warehouse never releases an unpaid order
        paid = placed + self.gen.minutes(0.5, 15)
        self._shopify("orders/paid", "order_paid", paid, financial_status="paid")
        if problem == "missing_scan":
            self._missing_scan(paid)
            return

        lines = self.shop["line_items"]
        pick_start = paid + self._work(paid, 5, 40)
        if problem == "inventory_shortage":
            short = rng.choice(lines)
            available = rng.randint(0, short["quantity"] - 1)
            reported = pick_start + self.gen.minutes(2, 15)
            self._wms("pick_started", pick_start, pick_list_id=f"PL-{rng.randint(10000, 99999)}")
            self._wms(
                "inventory_shortage",
                reported,
                reason=rng.choice(catalog.SHORTAGE_TEXTS),
                lines=[{"sku": short["sku"], "ordered": short["quantity"], "available": available}],
            )
            self.order.problem_at = reported
            return  # held until stock arrives
        picked = self._within(paid, pick_start + self._work(pick_start, 3, 30), 120)
        pick_start = min(pick_start, picked - timedelta(minutes=2))
        if problem == "pick_delay":
            picked = paid + self._late(120)
            self.order.problem_at = picked
        self._pick(pick_start, picked)
        pack_start = picked + self._work(picked, 5, 50)
        if problem == "damaged_package":
            text = rng.choice(catalog.DAMAGE_TEXTS)
            extra = {"reason_code": "DAMAGED_PACKAGE"} if rng.random() < 0.5 else {}
            self._wms("exception_reported", pack_start, reason=text, **extra)
            self.order.problem_at = pack_start
            return  # re-pick or refund: the order stops here
        packed = self._within(picked, pack_start + self._work(pack_start, 3, 25), 180)
        pack_start = min(pack_start, packed - timedelta(minutes=2))
        if problem == "pack_delay":
            packed = picked + self._late(180)
            self.order.problem_at = packed
        self._wms("pack_started", pack_start)
        self._pack(packed)
        handover = self._carrier_pickup(packed + self.gen.minutes(1, 10))
        if problem == "ship_delay":
            handover = packed + self._late(1440)
            self.order.problem_at = handover
        self._ship(handover)

    def _pick(self, started: datetime, picked: datetime) -> None:
        lines = self.shop["line_items"]
        self._wms("pick_started", started, pick_list_id=f"PL-{self.rng.randint(10000, 99999)}")
        self._wms(
            "pick_completed",
            picked,
            picked_lines=[{"sku": i["sku"], "quantity": i["quantity"]} for i in lines],
            line_count=len(lines),
        )

    def _pack(self, packed: datetime) -> None:
        weight = self.shop["total_weight"] + self.rng.randint(150, 600)
        self._wms("pack_completed", packed, weight_grams=weight, cartons=1)
        self._carrier("label_created", packed + self.gen.minutes(1, 10))

    def _missing_scan(self, paid: datetime) -> None:
        """A scanner skipped one stage: the pick (the pack scan comes, no pick scan
        before it) or the pack (the carrier collects a parcel never scanned packed).
        The stages that were scanned stay inside their allowances, so the missing
        scan is the only thing wrong."""
        picked = paid + self.gen.minutes(20, 50)
        if self.rng.random() < 0.5:
            packed = picked + self.gen.minutes(10, 35)
            self._wms("pack_completed", packed, weight_grams=self.shop["total_weight"] + 200)
            self._carrier("label_created", packed + self.gen.minutes(1, 10))
            self.order.problem_at = packed
            handover = self._carrier_pickup(packed + self.gen.minutes(1, 10))
        else:
            self._pick(picked - self.gen.minutes(3, 15), picked)
            labelled = picked + self.gen.minutes(15, 60)
            self._carrier("label_created", labelled)
            handover = self._carrier_pickup(labelled)
            self.order.problem_at = handover
        self._ship(handover)

    def _ship(self, handover: datetime) -> None:
        rng, problem = self.rng, self.order.problem
        self._carrier("picked_up", handover, facility=self.warehouse)
        self._carrier("in_transit", handover + self.gen.minutes(60, 6 * 60))
        allowance = timedelta(days=catalog.DELIVERY_DAYS[self.level])
        if problem == "delivery_delay":
            days = catalog.DELIVERY_DAYS[self.level]
            delivered = handover + timedelta(days=days * 7 / 5 + 3 + rng.uniform(1, 3))
            self.order.problem_at = delivered
        else:
            delivered = handover + allowance * rng.uniform(0.55, 0.85)
        if problem == "carrier_issue":
            at = handover + allowance * rng.uniform(0.3, 0.45)
            self._carrier("delivery_failed", at, reason=rng.choice(catalog.CARRIER_TEXTS))
            self.order.problem_at = at
        if problem == "customer_unavailable":
            texts = rng.sample(catalog.UNAVAILABLE_TEXTS, 2)
            for attempt, share in enumerate((0.25, 0.45), start=1):
                at = handover + allowance * share
                self._carrier("delivery_failed", at, reason=texts[attempt - 1], attempt=attempt)
            self.order.problem_at = at
        self._carrier("out_for_delivery", delivered - self.gen.minutes(60, 300))
        self._carrier("delivered", delivered, signed_by=rng.choice(["", "front door", "neighbour"]))
