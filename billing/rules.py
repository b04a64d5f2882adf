"""What is billed: the rules, exactly, in the order they apply.

No evidence, no charge. The month is the calendar month in the tenant's time zone.
The README's "What is billed" section says the same, in the same order.

1. Per order, each operation once, keyed by (order, operation): two sources reporting
   the same step never bill twice. An operation is billed in the month its first
   evidence occurred, priced by the tariff version in force then:
   pick (`pick_completed`: first unit + additional units), pack (`pack_completed`:
   pack fee + packaging), label (`ship_label_printed` or `label_created`), kitting
   (`kitting_completed`).
2. The order's operation subtotal is raised to the per-order minimum, in the month
   of the order's first billed operation (an operation evidenced in a later month
   adds its fee without a second minimum).
3. The order's special-handling multipliers (rush, oversized, hazmat, fragile)
   multiply that subtotal, each once; the result is rounded half-up to the cent, once.
4. Gift wrap is added after the multipliers, not multiplied (in the order's first
   billed month).
5. The month's order count (orders with a billed operation) picks the volume tier of
   the version in force at the month's end; its percentage comes off the sum of
   step 3 over the month, not off gift wrap or a minimum top-up.
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
columns (rules 2–4). No order passes through Python, so memory does not grow with
the month, and each line is written once. Steps 5–7 are the month's own lines,
computed from the sums of the written lines and from grouped queries over the
snapshots and receipts. The order-level rules (2–4) use the version in force at
the order's first billed operation of the month.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import prod

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
    Min,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Least, NullIf
from django.db.models.lookups import Contains, GreaterThanOrEqual

from orders.models import OrderEvent, Tenant

from .models import HANDLING_MULTIPLIER_FIELDS, InvoiceLine, LineKind, Tariff
from .periods import month_bounds
from .tariffs import PricedVersion

# Operation -> the event types that evidence it.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "pick": ("pick_completed",),
    "pack": ("pack_completed",),
    "label": ("ship_label_printed", "label_created"),
    "kitting": ("kitting_completed",),
}
EVIDENCE_TYPES: tuple[str, ...] = tuple(t for types in OPERATIONS.values() for t in types)
GIFT_WRAP_FLAG = "gift_wrap"
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
    "pick_cents",
    "pack_cents",
    "label_cents",
    "kitting_cents",
    "handling",
    "handling_mask",
    "order_first_month",
    "pick_at",
    "pack_at",
    "label_at",
    "kitting_at",
    "pick_event_ids",
    "pack_event_ids",
    "label_event_ids",
    "kitting_event_ids",
)


def order_evidence_query(
    *, tenant: Tenant, period: date, versions: list[PricedVersion], invoice_id: int
) -> QuerySet:
    """Rule 1 as one grouped query: a row per order with an operation billed in the
    month, its operation fees, its evidence, and what rules 2–4 need (its flags, the
    version of its first billed operation, whether this is its first billed month).

    Kept free of rules 2–4 on purpose: Django inlines every annotation it refers to,
    so pricing here would repeat the aggregates dozens of times per row (SQLite even
    refuses past 2,000 aggregate terms). `write_order_lines` makes it the derived
    table that `order_line_prices` reads as plain columns.
    """
    start, end = month_bounds(period, tenant.timezone)
    touched = OrderEvent.objects.filter(
        tenant=tenant, event_type__in=EVIDENCE_TYPES, occurred_at__gte=start, occurred_at__lt=end
    ).values("order_id")
    aggregates: dict[str, Aggregate] = {}
    for op, types in OPERATIONS.items():
        evidence = Q(event_type__in=types)
        aggregates[f"first_{op}"] = Min("occurred_at", filter=evidence)
        aggregates[f"ids_{op}"] = JoinedIds("id", filter=evidence)
    rows = (
        OrderEvent.objects.filter(
            tenant=tenant, event_type__in=EVIDENCE_TYPES, order_id__in=touched
        )
        .values("order_id", "order__items_count", "order__handling")
        .annotate(**aggregates)
    )

    def billed(op: str) -> Q:
        return Q(**{f"first_{op}__gte": start, f"first_{op}__lt": end})

    # The order's first billed operation of the month: its version prices rules 2–4.
    first_at = Least(
        *(
            Coalesce(
                Case(When(billed(op), then=F(f"first_{op}")), output_field=DateTimeField()),
                Value(_NEVER, output_field=DateTimeField()),
            )
            for op in OPERATIONS
        )
    )
    # Rules 2 and 4 apply once per order: in the month of its first billed operation.
    first_month = Q()
    for op in OPERATIONS:
        first_month &= Q(**{f"first_{op}__isnull": True}) | Q(**{f"first_{op}__gte": start})
    any_billed = Q()
    for op in OPERATIONS:
        any_billed |= billed(op)

    units = Coalesce(NullIf(F("order__items_count"), Value(0)), Value(1))
    fees: dict[str, Callable[[Tariff], Expression]] = {
        "pick": lambda t: (
            Value(t.pick_first_unit_cents)
            + Value(t.pick_additional_unit_cents) * (units - Value(1))
        ),
        "pack": lambda t: Value(t.pack_cents + t.packaging_cents),
        "label": lambda t: Value(t.label_cents),
        "kitting": lambda t: Value(t.kitting_cents),
    }
    flags = Cast("order__handling", TextField())
    rows = rows.annotate(
        invoice_id=Value(invoice_id),
        kind=Value(LineKind.ORDER.value),
        tariff_id=_by_version(versions, first_at, lambda t: Value(t.pk)),
        description=Value(""),
        units=Case(When(billed("pick"), then=units), default=Value(0), output_field=_INT),
        # bigint, as the line's columns are: the prices multiply these before they are
        # stored, and PostgreSQL would otherwise do that in 32-bit integers.
        **{
            f"{op}_cents": Cast(
                Case(
                    When(billed(op), then=_by_version(versions, F(f"first_{op}"), fee)),
                    default=Value(0),
                ),
                _INT,
            )
            for op, fee in fees.items()
        },
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
        order_first_month=Case(When(first_month, then=Value(True)), default=Value(False)),
        **{
            f"{op}_at": Case(When(billed(op), then=F(f"first_{op}")), output_field=DateTimeField())
            for op in OPERATIONS
        },
        **{
            f"{op}_event_ids": Case(
                When(billed(op), then=F(f"ids_{op}")), default=Value(""), output_field=TextField()
            )
            for op in OPERATIONS
        },
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
    """Rules 2–4 as expressions over a line's evidence columns (`LINE_COLUMNS`), by the
    name of the price column each one fills (`PRICE_COLUMNS`)."""
    operations = _ints(F("pick_cents"), F("pack_cents"), F("label_cents"), F("kitting_cents"))
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
    gift = Case(
        When(
            Q(order_first_month=True) & Q(handling__contains=f'"{GIFT_WRAP_FLAG}"'),
            then=_by_tariff(versions, lambda t: Value(t.gift_wrap_cents)),
        ),
        default=Value(0),
        output_field=_INT,
    )
    return {
        "operations_cents": operations,
        "order_minimum_cents": minimum,
        "multiplier": _by_tariff(versions, multiplier),
        "discountable_cents": discountable,
        "handling_cents": _ints(discountable - base),
        "gift_wrap_cents": gift,
        "amount_cents": _ints(discountable, gift),
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
    "gift_wrap_cents",
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
