"""Invoices per tenant and calendar month, their lines and the gapless number counter.

An invoice is one per (tenant, period). While it is a draft, billing rewrites its
lines from the evidence as it stands; once issued it is never changed again.
Amounts are integers of the tenant's minor currency unit.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from orders.currencies import CURRENCY_CHOICES, DEFAULT_CURRENCY
from orders.models import Order, Tenant

from .tariff import Tariff


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class LineKind(models.TextChoices):
    ORDER = "order", "Order operations"
    VOLUME_DISCOUNT = "volume_discount", "Volume discount"
    # Not orders (billing.inventory_fees): no volume discount, toward the minimum.
    STORAGE = "storage", "Storage"
    RECEIVING = "receiving", "Receiving"
    ACCOUNT_FEE = "account_fee", "Account fee"
    SUPPORT_FEE = "support_fee", "Support fee"
    MONTHLY_MINIMUM = "monthly_minimum", "Monthly minimum top-up"
    SLA_CREDITS = "sla_credits", "SLA credits"
    ADJUSTMENT = "adjustment", "Adjustment to an issued invoice"


S = InvoiceStatus
_NUMBERED = [S.ISSUED, S.PAID]


class Invoice(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="invoices")
    period = models.DateField(help_text="First day of the billed calendar month.")
    status = models.CharField(max_length=8, choices=InvoiceStatus.choices, default=S.DRAFT)
    # NULL, not "", until issued: the unique (tenant, number) must ignore drafts.
    number = models.CharField(  # noqa: DJ001
        max_length=80, null=True, blank=True, help_text="Given at issue: TENANT-YEAR-0001."
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    tariff = models.ForeignKey(
        Tariff,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The version in force at the month's end: its tiers and monthly minimum.",
    )
    order_count = models.PositiveIntegerField(default=0, help_text="Orders billed this month.")
    orders_cents = models.BigIntegerField(default=0, help_text="Sum of the order lines.")
    discountable_cents = models.BigIntegerField(
        default=0, help_text="Sum of the orders' multiplied operations (what a tier discounts)."
    )
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    discount_cents = models.BigIntegerField(default=0, help_text="Volume discount (≤ 0).")
    other_fees_cents = models.BigIntegerField(
        default=0,
        help_text="Storage, receiving and recurring fees: not orders, so never discounted; "
        "they count toward the monthly minimum.",
    )
    minimum_topup_cents = models.BigIntegerField(default=0)
    credits_cents = models.BigIntegerField(
        default=0, help_text="Approved SLA credits booked on this invoice (≤ 0)."
    )
    adjustments_cents = models.BigIntegerField(
        default=0, help_text="Approved adjustments to earlier invoices booked on this one."
    )
    total_cents = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="Last rebuilt as a draft.")
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.CharField(max_length=150, blank=True)
    due_on = models.DateField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-period", "tenant"]
        permissions = [
            ("issue_invoice", "Can issue and void invoices"),
            ("mark_paid", "Can mark invoices paid"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period"], name="invoice_one_per_month"),
            models.UniqueConstraint(fields=["tenant", "number"], name="invoice_number_unique"),
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values), name="invoice_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=_NUMBERED)
                | (Q(number__isnull=False) & Q(issued_at__isnull=False) & Q(due_on__isnull=False)),
                name="invoice_issued_has_number_and_due_date",
            ),
            models.CheckConstraint(
                condition=~Q(status=S.DRAFT) | Q(number__isnull=True),
                name="invoice_draft_has_no_number",
            ),
            models.CheckConstraint(
                condition=~Q(status=S.PAID) | Q(paid_at__isnull=False), name="invoice_paid_at"
            ),
            models.CheckConstraint(
                condition=~Q(status=S.VOID) | Q(voided_at__isnull=False), name="invoice_voided_at"
            ),
            models.CheckConstraint(
                condition=Q(discount_cents__lte=0), name="invoice_discount_le_0"
            ),
            models.CheckConstraint(
                condition=Q(minimum_topup_cents__gte=0), name="invoice_topup_ge_0"
            ),
            models.CheckConstraint(
                condition=Q(other_fees_cents__gte=0), name="invoice_other_fees_ge_0"
            ),
            models.CheckConstraint(condition=Q(credits_cents__lte=0), name="invoice_credits_le_0"),
        ]
        indexes = [models.Index(fields=["status", "period"], name="invoice_status_period")]

    def __str__(self) -> str:
        return self.number or f"{self.tenant} {self.period:%Y-%m} ({self.get_status_display()})"

    @property
    def is_draft(self) -> bool:
        return self.status == S.DRAFT


# The operations a line carries `<op>_cents`, `<op>_at` and `<op>_event_ids` for, in
# billing order; `billing.rules.OPERATIONS` names their evidence (and checks the two
# agree).
LINE_OPERATIONS: tuple[str, ...] = (
    "pick",
    "pack",
    "label",
    "kitting",
    "gift_wrap",
    "photo",
    "quality_check",
    "custom_packaging",
    "return",
    "label_passthrough",
)


class InvoiceLine(models.Model):
    """One billed order of the month (its operations, minimum, multipliers and gift wrap,
    with the events that prove each operation), or one of the month's own lines."""

    # No index of their own for these two keys: a month writes a line per order, and
    # each index is paid on every line (bench/billing.py). The unique (invoice, order)
    # index serves every look-up by invoice; a tariff is looked up by its lines only
    # when a version nobody priced with is deleted.
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="invoice_lines"
    )
    tariff = models.ForeignKey(
        Tariff,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lines",
        db_index=False,
    )
    description = models.CharField(max_length=200, blank=True)
    adjustment = models.OneToOneField(
        "billing.InvoiceAdjustment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="line",
        help_text="The approved adjustment this line books.",
    )

    units = models.PositiveIntegerField(default=0, help_text="Units picked (0: no pick billed).")
    pick_cents = models.BigIntegerField(default=0)
    pack_cents = models.BigIntegerField(default=0, help_text="Pack fee plus packaging.")
    label_cents = models.BigIntegerField(default=0)
    kitting_cents = models.BigIntegerField(default=0)
    operations_cents = models.BigIntegerField(default=0, db_default=0)
    order_minimum_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="Top-up raising the operations to the per-order minimum."
    )
    multiplier = models.DecimalField(max_digits=16, decimal_places=8, default=1, db_default=1)
    handling_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="What the special-handling multipliers added."
    )
    discountable_cents = models.BigIntegerField(
        default=0,
        db_default=0,
        help_text="Operations, minimum and multipliers: what a volume tier discounts.",
    )
    # Services on the order (billing.rules, rule 4): added after the multipliers,
    # never multiplied, discounted or counted toward the order minimum.
    gift_wrap_cents = models.BigIntegerField(default=0, db_default=0)
    photo_cents = models.BigIntegerField(default=0, db_default=0, help_text="Each photo taken.")
    quality_check_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="Each quality check completed."
    )
    custom_packaging_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="Each custom packaging applied."
    )
    return_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="Return, restocking and inspection per unit."
    )
    return_units = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Units inspected (0: no return billed)."
    )
    label_cost_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="The carrier's label cost, as its label event reported."
    )
    label_passthrough_cents = models.BigIntegerField(
        default=0, db_default=0, help_text="The carrier's label cost plus the tariff's markup."
    )
    amount_cents = models.BigIntegerField(default=0, db_default=0)
    handling = models.CharField(
        max_length=200, blank=True, help_text="The order's handling flags when it was billed."
    )
    handling_mask = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="The multiplied flags as bits (billing.rules)."
    )
    order_first_month = models.BooleanField(
        default=False,
        help_text="The order's first billed month: its minimum and gift wrap are charged here.",
    )

    # The evidence: when each billed operation first happened and every event proving it.
    pick_at = models.DateTimeField(null=True, blank=True)
    pack_at = models.DateTimeField(null=True, blank=True)
    label_at = models.DateTimeField(null=True, blank=True)
    kitting_at = models.DateTimeField(null=True, blank=True)
    pick_event_ids = models.TextField(blank=True, help_text="Event ids, space-separated.")
    pack_event_ids = models.TextField(blank=True)
    label_event_ids = models.TextField(blank=True)
    kitting_event_ids = models.TextField(blank=True)
    gift_wrap_at = models.DateTimeField(null=True, blank=True)
    photo_at = models.DateTimeField(null=True, blank=True)
    quality_check_at = models.DateTimeField(null=True, blank=True)
    custom_packaging_at = models.DateTimeField(null=True, blank=True)
    return_at = models.DateTimeField(null=True, blank=True)
    label_passthrough_at = models.DateTimeField(null=True, blank=True)
    gift_wrap_event_ids = models.TextField(blank=True, db_default="")
    photo_event_ids = models.TextField(blank=True, db_default="")
    quality_check_event_ids = models.TextField(blank=True, db_default="")
    custom_packaging_event_ids = models.TextField(blank=True, db_default="")
    return_event_ids = models.TextField(blank=True, db_default="")
    label_passthrough_event_ids = models.TextField(blank=True, db_default="")

    class Meta:
        ordering = ["invoice", "id"]
        constraints = [
            # Month lines have no order; NULLs never collide, so they pass here and
            # are kept one per kind below.
            models.UniqueConstraint(fields=["invoice", "order"], name="invoice_line_one_per_order"),
            models.UniqueConstraint(
                fields=["invoice", "kind"],
                condition=~Q(kind__in=[LineKind.ORDER, LineKind.ADJUSTMENT]),
                name="invoice_line_one_per_month_kind",
            ),
            models.CheckConstraint(
                condition=(Q(kind=LineKind.ADJUSTMENT) & Q(adjustment__isnull=False))
                | (~Q(kind=LineKind.ADJUSTMENT) & Q(adjustment__isnull=True)),
                name="invoice_line_adjustment_iff_adjustment_kind",
            ),
            models.CheckConstraint(
                condition=(Q(kind=LineKind.ORDER) & Q(order__isnull=False))
                | (~Q(kind=LineKind.ORDER) & Q(order__isnull=True)),
                name="invoice_line_order_iff_order_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=LineKind.values), name="invoice_line_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return self.description or self.get_kind_display()

    @property
    def services_cents(self) -> int:
        """Rule 4's services: gift wrap, photos, checks, custom packaging, the return and
        the label cost passed through (what `amount_cents` adds to the discountable)."""
        return sum(getattr(self, f"{op}_cents") for op in LINE_OPERATIONS[4:])

    @property
    def event_ids(self) -> list[int]:
        """Every event this line cites, in operation order (`billing.rules.OPERATIONS`)."""
        joined = " ".join(getattr(self, f"{op}_event_ids") for op in LINE_OPERATIONS)
        return [int(part) for part in joined.split()]


class InvoiceCounter(models.Model):
    """The last number issued per tenant and year, locked while an invoice is issued so
    numbers are gapless and never given twice."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "year"], name="invoice_counter_per_year"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.year}: {self.last_number}"
