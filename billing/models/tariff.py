"""A tenant's rate sheet, one row per version.

A version is in force from its `effective_from` (a date in the tenant's time zone)
until the next version's. An operation is priced by the version in force when its
evidence occurred, so changing prices means adding a version: one that has priced
anything (`priced_at` is set) is history and is never edited in place.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from orders.models import Tenant

# Order handling flag -> the tariff column holding its multiplier. `gift_wrap` is a
# flat fee added after them, not a multiplier.
HANDLING_MULTIPLIER_FIELDS: dict[str, str] = {
    "rush": "rush_multiplier",
    "oversized": "oversized_multiplier",
    "hazmat": "hazmat_multiplier",
    "fragile": "fragile_multiplier",
}
MAX_MULTIPLIER = Decimal("10")

FEE_FIELDS: tuple[str, ...] = (
    "pick_first_unit_cents",
    "pick_additional_unit_cents",
    "pack_cents",
    "packaging_cents",
    "label_cents",
    "kitting_cents",
    "order_minimum_cents",
    "monthly_minimum_cents",
    "gift_wrap_cents",
    # The rest of the rate sheet: storage, receiving, recurring fees and the late fee.
    "storage_unit_day_cents",
    "receiving_per_receipt_cents",
    "receiving_per_unit_cents",
    "account_fee_cents",
    "support_fee_cents",
    "late_fee_cents",
    # Value-added services (per event, except gift wrap above: once per order).
    "photo_cents",
    "quality_check_cents",
    "custom_packaging_cents",
    # Returns: per return, restocking per return, inspection per unit returned.
    "return_cents",
    "restocking_cents",
    "return_inspection_unit_cents",
)
# The carrier's label cost passed through is billed plus this percentage (0 to 100,
# an exact decimal: 7.5 is 7.5 %).
LABEL_MARKUP_FIELD = "label_markup_percent"
MAX_LABEL_MARKUP_PERCENT = Decimal("100")
# Units on hand longer than `storage_aged_after_days` are stored at the unit-day fee
# times `storage_aged_multiplier` (an exact decimal, like the handling multipliers,
# so a 1.5× aged rate is as easy to write as 2×).
STORAGE_AGED_MULTIPLIER_FIELD = "storage_aged_multiplier"
STORAGE_AGED_AFTER_FIELD = "storage_aged_after_days"
MAX_AGED_AFTER_DAYS = 3650

# SLA breach severity -> the tariff column holding the share of an order's operation
# fees credited back when its warehouse stages breached at that severity.
CREDIT_PERCENT_FIELDS: dict[str, str] = {
    "LOW": "credit_low_percent",
    "MEDIUM": "credit_medium_percent",
    "HIGH": "credit_high_percent",
    "CRITICAL": "credit_critical_percent",
}
# Credits up to the first are approved by the rules; above the second they wait for
# Finance; in between they are approved and listed for review.
CREDIT_THRESHOLD_FIELDS: tuple[str, ...] = (
    "credit_auto_approve_cents",
    "credit_review_above_cents",
)


def _cents(help_text: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(default=0, help_text=help_text)


def _percent(help_text: str) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(default=0, help_text=help_text)


def _multiplier(help_text: str) -> models.DecimalField:
    return models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("1.00"), help_text=help_text
    )


class Tariff(models.Model):
    """Fees in the tenant's minor currency unit (cents), multipliers as exact decimals."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="tariffs")
    effective_from = models.DateField(
        help_text="First day (tenant-local) this version prices; it runs until the next one."
    )
    name = models.CharField(max_length=120, blank=True, help_text="e.g. 2027 rate sheet.")

    pick_first_unit_cents = _cents("Picking the first unit of an order.")
    pick_additional_unit_cents = _cents("Picking each further unit of the same order.")
    pack_cents = _cents("Packing an order.")
    packaging_cents = _cents("Packaging material per packed order.")
    label_cents = _cents("Printing a shipping label.")
    kitting_cents = _cents("Assembling a kit.")
    order_minimum_cents = _cents("An order's operations are raised to at least this.")
    monthly_minimum_cents = _cents("A month's invoice is topped up to at least this.")
    gift_wrap_cents = _cents("Gift wrap per order; added after the multipliers.")

    # Not orders: none of these counts toward a volume tier or the per-order minimum;
    # they count toward the monthly minimum. Versions from before they existed
    # charge 0 (a version that priced an invoice is never edited): start a new one.
    storage_unit_day_cents = _cents("Storing one unit for one day (daily on-hand snapshots).")
    storage_aged_after_days = models.PositiveSmallIntegerField(
        default=90,
        help_text="Units on hand longer than this many days since received are aged.",
    )
    storage_aged_multiplier = _multiplier("Applied to the unit-day fee of aged units.")
    receiving_per_receipt_cents = _cents("Per inbound receipt (ASN) received.")
    receiving_per_unit_cents = _cents("Per unit received.")
    account_fee_cents = _cents("Monthly account fee (0: none).")
    support_fee_cents = _cents("Monthly support fee (0: none).")
    late_fee_cents = _cents("Late-payment fee.")

    # Services on an order (billing.rules, rule 4): flat fees added after the
    # multipliers, never multiplied, discounted or counted toward the order minimum.
    photo_cents = _cents("Per photo taken of an order (each photo_taken event).")
    quality_check_cents = _cents("Per quality check (each quality_check_completed event).")
    custom_packaging_cents = _cents(
        "Per custom packaging applied (each custom_packaging_applied event)."
    )
    return_cents = _cents("Per returned order (its first returned event).")
    restocking_cents = _cents("Restocking per returned order.")
    return_inspection_unit_cents = _cents("Inspecting each unit returned.")
    label_markup_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="Added to a carrier's label cost passed through (label_cost_cents), in %.",
    )

    credit_low_percent = _percent("Credited for a LOW breach: % of the order's operation fees.")
    credit_medium_percent = _percent("Credited for a MEDIUM breach.")
    credit_high_percent = _percent("Credited for a HIGH breach.")
    credit_critical_percent = _percent("Credited for a CRITICAL breach.")
    credit_auto_approve_cents = _cents("SLA credits up to this are approved by the rules.")
    credit_review_above_cents = _cents(
        "SLA credits above this wait for a Finance user's approval; between the two "
        "thresholds they are approved and listed for review."
    )

    rush_multiplier = _multiplier("Applied to an order flagged rush.")
    oversized_multiplier = _multiplier("Applied to an order flagged oversized.")
    hazmat_multiplier = _multiplier("Applied to an order flagged hazmat.")
    fragile_multiplier = _multiplier("Applied to an order flagged fragile.")

    priced_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When an invoice first used this version; from then on it is history.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "effective_from"], name="tariff_one_version_per_day"
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__gte": 1}) & Q(**{f"{field}__lte": MAX_MULTIPLIER}),
                    name=f"tariff_{field}_1_to_10",
                )
                for field in HANDLING_MULTIPLIER_FIELDS.values()
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__lte": 100}), name=f"tariff_{field}_at_most_100"
                )
                for field in CREDIT_PERCENT_FIELDS.values()
            ),
            models.CheckConstraint(
                condition=Q(credit_auto_approve_cents__lte=models.F("credit_review_above_cents")),
                name="tariff_credit_thresholds_ascending",
            ),
            models.CheckConstraint(
                condition=Q(storage_aged_multiplier__gte=1)
                & Q(storage_aged_multiplier__lte=MAX_MULTIPLIER),
                name="tariff_storage_aged_multiplier_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(label_markup_percent__gte=0)
                & Q(label_markup_percent__lte=MAX_LABEL_MARKUP_PERCENT),
                name="tariff_label_markup_0_to_100",
            ),
            models.CheckConstraint(
                condition=Q(storage_aged_after_days__gte=1)
                & Q(storage_aged_after_days__lte=MAX_AGED_AFTER_DAYS),
                name="tariff_storage_aged_after_1_to_3650_days",
            ),
        ]

    def __str__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"{self.tenant} tariff from {self.effective_from:%Y-%m-%d}{label}"

    @property
    def is_history(self) -> bool:
        return self.priced_at is not None


class VolumeTier(models.Model):
    """From `min_orders` orders in a month, `percent` comes off the multiplied operations."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="tiers")
    min_orders = models.PositiveIntegerField(help_text="Orders billed in the month, at least.")
    percent = models.DecimalField(max_digits=5, decimal_places=2, help_text="Discount, e.g. 5.00.")

    class Meta:
        ordering = ["tariff", "min_orders"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "min_orders"], name="tier_unique_threshold"),
            models.CheckConstraint(condition=Q(min_orders__gte=1), name="tier_min_orders_positive"),
            models.CheckConstraint(
                condition=Q(percent__gt=0) & Q(percent__lte=100), name="tier_percent_0_to_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.percent}% from {self.min_orders} orders"
