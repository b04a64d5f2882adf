"""What is billed: the rules, exactly, in the order they apply.

No evidence, no charge. The month is the calendar month in the tenant's time zone.
The README's "What is billed" section says the same, in the same order.

1. Per order, each operation once, keyed by (order, operation): two sources reporting
   the same step never bill twice. An operation is billed in the month its first
   evidence occurred, priced by the tariff version in force then:
   pick (`pick_completed`: first unit + additional units), pack (`pack_completed`:
   pack fee + packaging), label (`ship_label_printed` or `label_created`), kitting
   (`kitting_completed`). These four are the order's fulfilment operations.
2. The order's operation subtotal (the four above) is raised to the per-order
   minimum, in the month of the order's first billed fulfilment operation (an
   operation evidenced in a later month adds its fee without a second minimum; a
   month with only services or a return for the order never charges a minimum).
3. The order's special-handling multipliers (rush, oversized, hazmat, fragile)
   multiply that subtotal, each once; the result is rounded half-up to the cent, once.
4. Services are added after the multipliers: never multiplied, never discounted,
   never counted toward the per-order minimum. Each is billed in the month of its
   evidence, priced by the version in force at that evidence:
   - gift wrap, once per order, whether the order's `gift_wrap` flag or a
     `gift_wrapped` event (or both) say so, never twice: its evidence is the earlier
     of the first `gift_wrapped` event and, for a flagged order, its first
     fulfilment operation;
   - photo (`photo_taken`), quality check (`quality_check_completed`) and custom
     packaging (`custom_packaging_applied`), per event: each reported photo or check
     is work done, so two events bill twice, each in its own month and at its own
     version, and the line cites them all;
   - a return, once per order (its first `returned` event; a second source reporting
     the same return does not bill again): the return fee + restocking + inspection
     per unit returned (the event's `units_returned`, the largest reported, else the
     order's units as for pick);
   - the carrier's label cost passed through: the latest label event carrying
     `label_cost_cents` (a relabel replaces the label it voids; a cost that is not a
     whole number of cents is ignored), plus the tariff's markup percentage rounded
     half-up once; in the month of that event.
5. The month's order count (orders with a line: a billed operation or service) picks
   the volume tier of the version in force at the month's end; its percentage comes
   off the sum of step 3 over the month, not off services (step 4) or a minimum
   top-up. An order returned or served in the month is an order handled in it.
6. The fees that are not orders (`billing.inventory_fees`) are added, undiscounted:
   storage (unit-days from the daily snapshots, aged units at the aged rate, each
   day priced by the version in force that day), receiving (per receipt and per
   unit, by the version in force when received) and the recurring account and
   support fees (the version in force at the month's end). Receipts are not
   orders: they never count toward the volume tier or a per-order minimum.
7. If the month's total (orders, discount and step 6) is under the monthly
   minimum, a top-up line makes it up.
8. Approved SLA credits come off after the minimum (`billing.credits`).
9. Approved adjustments to earlier invoices are carried last, a line each
   (`billing.validation`, `services.book_month_lines`).

Steps 1–4 are one INSERT … SELECT: the grouped query over the events (rule 1) is
its derived table, and the outer SELECT prices each row over that table's plain
columns (rules 2–4). The services of rule 4 are priced in the grouped query (each
by the version in force at its own evidence) and only summed by the outer one.
No order passes through Python, so memory does not grow with
the month, and each line is written once. Steps 5–7 are the month's own lines,
computed from the sums of the written lines and from grouped queries over the
snapshots and receipts. Rules 2–3 use the version in force at the order's first
billed operation of the month.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import prod

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import (
    Aggregate,
    BigIntegerField,
    Case,
    DateTimeField,
    DecimalField,
    Expression,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Greatest, Least, NullIf
from django.db.models.lookups import Contains, GreaterThanOrEqual, Regex

from orders.models import OrderEvent, Tenant

from .models import (
    HANDLING_MULTIPLIER_FIELDS,
    LINE_OPERATIONS,
    InvoiceLine,
    LineKind,
    Tariff,
)
from .periods import month_bounds
from .tariffs import PricedVersion

# Operation -> the event types that evidence it, in billing order. A line has
# `<op>_cents`, `<op>_at` and `<op>_event_ids` for each (`InvoiceLine`).
OPERATIONS: dict[str, tuple[str, ...]] = {
    # Fulfilment (rules 1–3): once per order, minimum, multipliers, volume discount.
    "pick": ("pick_completed",),
    "pack": ("pack_completed",),
    "label": ("ship_label_printed", "label_created"),
    "kitting": ("kitting_completed",),
    # Services (rule 4): flat, after the multipliers, undiscounted.
    "gift_wrap": ("gift_wrapped",),
    "photo": ("photo_taken",),
    "quality_check": ("quality_check_completed",),
    "custom_packaging": ("custom_packaging_applied",),
    "return": ("returned",),
    "label_passthrough": ("ship_label_printed", "label_created"),
}
FULFILMENT_OPERATIONS: tuple[str, ...] = ("pick", "pack", "label", "kitting")
# How an operation's charge is named to a person (validation's rationales, the admin).
OPERATION_LABELS: dict[str, str] = {
    "gift_wrap": "gift wrap",
    "quality_check": "quality check",
    "custom_packaging": "custom packaging",
    "label_passthrough": "label cost passed through",
}
# Billed per event reported in the month: operation -> the tariff's fee field.
PER_EVENT_SERVICES: dict[str, str] = {
    "photo": "photo_cents",
    "quality_check": "quality_check_cents",
    "custom_packaging": "custom_packaging_cents",
}


def operation_label(op: str) -> str:
    return OPERATION_LABELS.get(op, op)


if tuple(OPERATIONS) != LINE_OPERATIONS:  # the line's columns follow these names
    raise ImproperlyConfigured("billing.rules.OPERATIONS and InvoiceLine disagree")
EVIDENCE_TYPES: tuple[str, ...] = tuple(sorted({t for types in OPERATIONS.values() for t in types}))
GIFT_WRAP_FLAG = "gift_wrap"
# Read from the event's stored body (`OrderEvent.payload`, the JSON as sent; ingestion
# checks both are whole numbers, `orders.contract`). Only whole, non-negative numbers
# of at most nine digits count: anything else stored before the check is ignored in
# SQL rather than cast, so it can neither fail the run nor bill garbage.
LABEL_COST_KEY = "label_cost_cents"
RETURN_UNITS_KEY = "units_returned"
_WHOLE = r"^[0-9]{1,9}$"
_FLAGS: tuple[str, ...] = tuple(HANDLING_MULTIPLIER_FIELDS)  # bit i of the mask = flag i
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)
_INT = BigIntegerField()


class JoinedIds(Aggregate):
    """The grouped ids as one space-separated string (PostgreSQL's STRING_AGG,
    SQLite's GROUP_CONCAT); NULLs (rows the filter left out) are skipped by both."""

    function = "STRING_AGG"
    template = "%(function)s(CAST(%(expressions)s AS text), ' ')"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        clone = self.copy()
        clone.function = "GROUP_CONCAT"
        clone.template = "%(function)s(%(expressions)s, ' ')"
        return clone.as_sql(compiler, connection, **extra)


def round_half_up(value: Decimal) -> int:
    """To the nearest cent, halves away from zero (the amounts rounded here are ≥ 0)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def multiplier_of(tariff: Tariff, mask: int) -> Fraction:
    """The exact product of the multipliers of the flags set in `mask` (each once)."""
    return prod(
        (
            Fraction(getattr(tariff, HANDLING_MULTIPLIER_FIELDS[flag]))
            for bit, flag in enumerate(_FLAGS)
            if mask & (1 << bit)
        ),
        start=Fraction(1),
    )


def _by_version(
    versions: list[PricedVersion], at: Expression, value: Callable[[Tariff], Expression]
) -> Expression:
    """`value(version)` for the version in force at the instant `at`."""
    if len(versions) == 1:
        return value(versions[0].tariff)
    whens = [
        When(
            GreaterThanOrEqual(at, Value(v.starts_at, output_field=DateTimeField())),
            then=value(v.tariff),
        )
        for v in reversed(versions[1:])
    ]
    return Case(*whens, default=value(versions[0].tariff))


def _ints(*parts: Expression) -> Expression:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return ExpressionWrapper(total, output_field=_INT)


# The columns the order lines are inserted with, in this order.
LINE_COLUMNS: tuple[str, ...] = (
    "invoice_id",
    "kind",
    "order_id",
    "tariff_id",
    "description",
    "units",
    *(f"{op}_cents" for op in OPERATIONS),
    "return_units",
    "label_cost_cents",
    "handling",
    "handling_mask",
    "order_first_month",
    *(f"{op}_at" for op in OPERATIONS),
    *(f"{op}_event_ids" for op in OPERATIONS),
)


def _whole_number(key: str) -> Expression:
    """The event's `key` as a bigint when it is a whole number of cents or units, else
    NULL (see `_WHOLE`); the regex is PostgreSQL's `~` and the REGEXP Django gives
    SQLite, so a bad value is never cast."""
    text = KeyTextTransform(key, "payload")
    return Case(When(Regex(text, _WHOLE), then=Cast(text, _INT)), default=None, output_field=_INT)


class _OfTheOrder(Subquery):
    """A subquery correlated on the grouped `order_id` alone: left out of GROUP BY.

    Django would group by the whole subquery, so PostgreSQL would run it once per
    event rather than once per order (and only where a CASE reaches it)."""

    def get_group_by_cols(self) -> list:  # type: ignore[override]
        return []


class _PerOrder(ExpressionWrapper):
    """An expression over `_OfTheOrder` subqueries and constants: nothing to group by
    (an ExpressionWrapper around a Subquery would put the subquery in GROUP BY)."""

    def get_group_by_cols(self) -> list:  # type: ignore[override]
        return []


def _latest_label_with_cost(value: str) -> Subquery:
    """`value` ("cost", or "id" as text) of the order's latest label event carrying a
    valid label cost."""
    events = (
        OrderEvent.objects.filter(
            order_id=OuterRef("order_id"), event_type__in=OPERATIONS["label_passthrough"]
        )
        .annotate(cost=_whole_number(LABEL_COST_KEY), id_text=Cast("id", TextField()))
        .filter(cost__isnull=False)
        .order_by("-occurred_at", "-id")
        .values("id_text" if value == "id" else value)[:1]
    )
    return _OfTheOrder(events, output_field=TextField() if value == "id" else _INT)


def _as_int(fee: Callable[[Tariff], Expression]) -> Callable[[Tariff], Expression]:
    """`fee` typed as bigint: versions' fees mix integer literals and bigint columns."""
    return lambda t: ExpressionWrapper(fee(t), output_field=_INT)


def order_evidence_query(
    *, tenant: Tenant, period: date, versions: list[PricedVersion], invoice_id: int
) -> QuerySet:
    """Rules 1 and 4 as one grouped query: a row per order with an operation or a
    service billed in the month, their fees, their evidence, and what rules 2–3 need
    (its flags, the version of its first billed operation, whether this is its first
    billed fulfilment month).

    Kept free of rules 2–3 on purpose: Django inlines every annotation it refers to,
    so pricing here would repeat the aggregates dozens of times per row (SQLite even
    refuses past 2,000 aggregate terms). `write_order_lines` makes it the derived
    table that `order_line_prices` reads as plain columns. The services are priced
    here, each at the version of its own evidence: none of them is multiplied.
    """
    start, end = month_bounds(period, tenant.timezone)
    in_month = Q(occurred_at__gte=start, occurred_at__lt=end)
    touched = OrderEvent.objects.filter(
        in_month, tenant=tenant, event_type__in=EVIDENCE_TYPES
    ).values("order_id")
    cost_ok = Q(event_type__in=OPERATIONS["label_passthrough"]) & Regex(
        KeyTextTransform(LABEL_COST_KEY, "payload"), _WHOLE
    )
    aggregates: dict[str, Aggregate] = {}
    for op, types in OPERATIONS.items():
        evidence = Q(event_type__in=types)
        if op in PER_EVENT_SERVICES:  # each event bills in its own month
            evidence &= in_month
            fee_field = PER_EVENT_SERVICES[op]
            aggregates[f"sum_{op}"] = Sum(
                _by_version(
                    versions, F("occurred_at"), lambda t, f=fee_field: Value(getattr(t, f))
                ),
                filter=evidence,
                output_field=_INT,
            )
        if op == "label_passthrough":  # the latest label with a cost, not the first
            aggregates[f"first_{op}"] = Max("occurred_at", filter=cost_ok)
            continue
        aggregates[f"first_{op}"] = Min("occurred_at", filter=evidence)
        aggregates[f"ids_{op}"] = JoinedIds("id", filter=evidence)
    aggregates["reported_units_returned"] = Max(
        _whole_number(RETURN_UNITS_KEY), filter=Q(event_type__in=OPERATIONS["return"])
    )
    rows = (
        OrderEvent.objects.filter(
            tenant=tenant, event_type__in=EVIDENCE_TYPES, order_id__in=touched
        )
        .values("order_id", "order__items_count", "order__handling")
        .annotate(**aggregates)
    )

    def in_period(at: Expression) -> Q:
        return Q(GreaterThanOrEqual(at, Value(start, output_field=DateTimeField()))) & ~Q(
            GreaterThanOrEqual(at, Value(end, output_field=DateTimeField()))
        )

    def never(at: Expression) -> Expression:
        return Coalesce(at, Value(_NEVER, output_field=DateTimeField()))

    flags = Cast("order__handling", TextField())
    # Gift wrap's evidence: the first `gift_wrapped` event, or for a flagged order its
    # first fulfilment operation (ever), whichever is earlier: once per order.
    first_fulfilment = Least(*(never(F(f"first_{op}")) for op in FULFILMENT_OPERATIONS))
    flagged_at = Case(
        When(Contains(flags, Value(f'"{GIFT_WRAP_FLAG}"')), then=first_fulfilment),
        default=Value(_NEVER, output_field=DateTimeField()),
        output_field=DateTimeField(),
    )
    evidenced_at: dict[str, Expression] = {op: F(f"first_{op}") for op in OPERATIONS}
    evidenced_at["gift_wrap"] = Least(never(F("first_gift_wrap")), flagged_at)

    def billed(op: str) -> Q:
        return in_period(evidenced_at[op])

    def billed_at(op: str) -> Expression:
        return Case(When(billed(op), then=evidenced_at[op]), output_field=DateTimeField())

    # The order's first billed operation of the month: its version prices rules 2–3.
    first_at = Least(*(never(billed_at(op)) for op in OPERATIONS))
    # Rule 2 applies once per order: in the month of its first billed fulfilment
    # operation (a month with only a return or services charges no minimum).
    first_month = Q()
    for op in FULFILMENT_OPERATIONS:
        first_month &= Q(**{f"first_{op}__isnull": True}) | Q(**{f"first_{op}__gte": start})
    fulfilled = Q()
    for op in FULFILMENT_OPERATIONS:
        fulfilled |= billed(op)
    any_billed = Q()
    for op in OPERATIONS:
        any_billed |= billed(op)

    units = Coalesce(NullIf(F("order__items_count"), Value(0)), Value(1))
    returned_units = Coalesce(
        NullIf(F("reported_units_returned"), Value(0)), units, output_field=_INT
    )
    cost = _latest_label_with_cost("cost")

    def passthrough(t: Tariff) -> Expression:
        # cost + cost × markup %, the markup rounded half up: (2·cost·p + q) // 2q.
        markup = Fraction(t.label_markup_percent) / 100
        if markup == 0:
            return _PerOrder(cost, output_field=_INT)
        p, q = markup.numerator, markup.denominator
        return _PerOrder(cost + (cost * Value(2 * p) + Value(q)) / Value(2 * q), output_field=_INT)

    fees: dict[str, Callable[[Tariff], Expression]] = {
        "pick": lambda t: (
            Value(t.pick_first_unit_cents)
            + Value(t.pick_additional_unit_cents) * (units - Value(1))
        ),
        "pack": lambda t: Value(t.pack_cents + t.packaging_cents),
        "label": lambda t: Value(t.label_cents),
        "kitting": lambda t: Value(t.kitting_cents),
        "gift_wrap": lambda t: Value(t.gift_wrap_cents),
        "return": lambda t: (
            Value(t.return_cents + t.restocking_cents)
            + Value(t.return_inspection_unit_cents) * returned_units
        ),
        "label_passthrough": passthrough,
    }
    cents: dict[str, Expression] = {
        op: Case(
            When(billed(op), then=_by_version(versions, evidenced_at[op], _as_int(fee))),
            default=Value(0),
            output_field=_INT,
        )
        for op, fee in fees.items()
    }
    cents.update(
        {op: Coalesce(F(f"sum_{op}"), Value(0), output_field=_INT) for op in PER_EVENT_SERVICES}
    )
    event_ids: dict[str, Expression] = {
        # No ids for gift wrap that the order's flag alone evidences.
        op: Case(
            When(billed(op), then=Coalesce(F(f"ids_{op}"), Value(""))),
            default=Value(""),
            output_field=TextField(),
        )
        for op in OPERATIONS
        if op != "label_passthrough"
    }
    # The one label event whose cost is billed.
    event_ids["label_passthrough"] = Case(
        When(
            billed("label_passthrough"),
            then=_latest_label_with_cost("id"),
        ),
        default=Value(""),
        output_field=TextField(),
    )
    rows = rows.annotate(
        invoice_id=Value(invoice_id),
        kind=Value(LineKind.ORDER.value),
        tariff_id=_by_version(versions, first_at, lambda t: Value(t.pk)),
        description=Value(""),
        units=Case(When(billed("pick"), then=units), default=Value(0), output_field=_INT),
        # bigint, as the line's columns are: the prices multiply these before they are
        # stored, and PostgreSQL would otherwise do that in 32-bit integers.
        **{f"{op}_cents": Cast(cents[op], _INT) for op in OPERATIONS},
        return_units=Case(
            When(billed("return"), then=returned_units), default=Value(0), output_field=_INT
        ),
        label_cost_cents=Case(
            When(billed("label_passthrough"), then=cost), default=Value(0), output_field=_INT
        ),
        handling=flags,
        handling_mask=_ints(
            *(
                Case(
                    When(Contains(flags, Value(f'"{flag}"')), then=Value(1 << bit)),
                    default=Value(0),
                    output_field=_INT,
                )
                for bit, flag in enumerate(_FLAGS)
            )
        ),
        order_first_month=Case(
            When(first_month & fulfilled, then=Value(True)), default=Value(False)
        ),
        **{f"{op}_at": billed_at(op) for op in OPERATIONS},
        **{f"{op}_event_ids": Cast(event_ids[op], TextField()) for op in OPERATIONS},
    )
    return rows.filter(any_billed).values_list(*LINE_COLUMNS)


def _by_tariff(versions: list[PricedVersion], value: Callable[[Tariff], Expression]) -> Expression:
    """`value(version)` for the version stored on the line (`tariff_id`)."""
    if len(versions) == 1:
        return value(versions[0].tariff)
    return Case(
        *(When(tariff_id=v.tariff.pk, then=value(v.tariff)) for v in versions),
        default=value(versions[0].tariff),
    )


def order_line_prices(versions: list[PricedVersion]) -> dict[str, Expression]:
    """Rules 2–3, and rule 4's sum, as expressions over a line's evidence columns
    (`LINE_COLUMNS`), by the name of the price column each one fills (`PRICE_COLUMNS`)."""
    operations = _ints(*(F(f"{op}_cents") for op in FULFILMENT_OPERATIONS))
    minimum = Case(
        When(
            order_first_month=True,
            then=_by_tariff(
                versions, lambda t: Greatest(Value(t.order_minimum_cents) - operations, Value(0))
            ),
        ),
        default=Value(0),
        output_field=_INT,
    )
    base = _ints(operations, minimum)

    def multiplied(t: Tariff) -> Expression:
        whens = []
        for mask in range(1, 1 << len(_FLAGS)):
            factor = multiplier_of(t, mask)
            if factor != 1:  # half up in integers: (2·base·p + q) // 2q
                p, q = factor.numerator, factor.denominator
                exact = (base * Value(2 * p) + Value(q)) / Value(2 * q)
                whens.append(When(handling_mask=mask, then=exact))
        return Case(*whens, default=base, output_field=_INT) if whens else base

    def multiplier(t: Tariff) -> Expression:
        whens = [
            When(handling_mask=mask, then=Value(_decimal(multiplier_of(t, mask))))
            for mask in range(1, 1 << len(_FLAGS))
            if multiplier_of(t, mask) != 1
        ]
        one = Value(Decimal(1))
        return Case(*whens, default=one, output_field=DecimalField()) if whens else one

    discountable = _by_tariff(versions, multiplied)
    # Rule 4: priced by the evidence query, each at its own version; only added here.
    services = _ints(*(F(f"{op}_cents") for op in OPERATIONS if op not in FULFILMENT_OPERATIONS))
    return {
        "operations_cents": operations,
        "order_minimum_cents": minimum,
        "multiplier": _by_tariff(versions, multiplier),
        "discountable_cents": discountable,
        "handling_cents": _ints(discountable - base),
        "amount_cents": _ints(discountable, services),
    }


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


# The columns `order_line_prices` fills, in this order, after `LINE_COLUMNS`.
PRICE_COLUMNS: tuple[str, ...] = (
    "operations_cents",
    "order_minimum_cents",
    "multiplier",
    "discountable_cents",
    "handling_cents",
    "amount_cents",
)


def priced_order_lines(
    *, tenant: Tenant, period: date, versions: list[PricedVersion], invoice_id: int
) -> tuple[str, tuple]:
    """Rules 1–4 as one SELECT (SQL and parameters) whose rows are the month's order
    lines, columns `LINE_COLUMNS` then `PRICE_COLUMNS`; no order passes through Python.

    The evidence query, whose rows have the lines' column names, is the derived
    table, aliased as the lines' table, so that `order_line_prices` (expressions
    over a line's columns) compiles against it unchanged: each aggregate is computed
    once per order.
    """
    qn = connection.ops.quote_name
    table = qn(InvoiceLine._meta.db_table)
    evidence = order_evidence_query(
        tenant=tenant, period=period, versions=versions, invoice_id=invoice_id
    )
    evidence_sql, evidence_params = evidence.query.sql_with_params()
    prices = order_line_prices(versions)
    priced = (
        InvoiceLine.objects.order_by()
        .annotate(**{f"price_{column}": prices[column] for column in PRICE_COLUMNS})
        .values_list(*LINE_COLUMNS, *(f"price_{column}" for column in PRICE_COLUMNS))
    )
    priced_sql, priced_params = priced.query.sql_with_params()
    # The priced query reads the lines' table and nothing else (no WHERE, no join, no
    # order), so its FROM clause is its end, and its parameters all come before it.
    from_lines = f" FROM {table}"
    if not priced_sql.endswith(from_lines) or priced_sql.count(from_lines) != 1:
        raise AssertionError(f"unexpected shape of the pricing query: {priced_sql[-200:]}")
    sql = f"{priced_sql.removesuffix(from_lines)} FROM ({evidence_sql}) {table}"
    return sql, (*priced_params, *evidence_params)


def write_order_lines(
    *, tenant: Tenant, period: date, versions: list[PricedVersion], invoice_id: int
) -> None:
    """Rules 1–4 into the invoice with one INSERT … SELECT, each line written once.

    Inserting the evidence and then pricing it with an UPDATE wrote every line
    twice, which on PostgreSQL took about as long as the INSERT itself
    (bench/billing.py).
    """
    qn = connection.ops.quote_name
    table = qn(InvoiceLine._meta.db_table)
    sql, params = priced_order_lines(
        tenant=tenant, period=period, versions=versions, invoice_id=invoice_id
    )
    columns = ", ".join(qn(c) for c in (*LINE_COLUMNS, *PRICE_COLUMNS))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {sql}", params)


@dataclass(frozen=True, slots=True)
class MonthTotals:
    """Rules 5–7 from the month's order lines and its other fees."""

    order_count: int
    orders_cents: int
    discountable_cents: int
    discount_percent: Decimal
    discount_cents: int  # ≤ 0
    other_fees_cents: int  # rule 6: storage, receiving, recurring
    minimum_topup_cents: int

    @property
    def total_cents(self) -> int:
        return (
            self.orders_cents
            + self.discount_cents
            + self.other_fees_cents
            + self.minimum_topup_cents
        )


def month_totals(
    *,
    order_count: int,
    orders_cents: int,
    discountable_cents: int,
    month_version: PricedVersion,
    other_fees_cents: int = 0,
) -> MonthTotals:
    """Rule 5 discounts the orders only; rule 7 tops up the orders, the discount and the
    other fees (rule 6) together: storage and receiving are work the minimum covers.
    `order_count` counts orders, never receipts."""
    percent = month_version.tier_percent(order_count)
    discount = -round_half_up(Decimal(discountable_cents) * percent / Decimal(100))
    subtotal = orders_cents + discount + other_fees_cents
    topup = max(0, month_version.tariff.monthly_minimum_cents - subtotal)
    return MonthTotals(
        order_count=order_count,
        orders_cents=orders_cents,
        discountable_cents=discountable_cents,
        discount_percent=percent,
        discount_cents=discount,
        other_fees_cents=other_fees_cents,
        minimum_topup_cents=topup,
    )
