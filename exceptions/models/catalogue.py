"""The reason-code catalogue: data that detection, rule-based notes, the AI and the admin share."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from slas.models import Severity


class ReasonCode(models.Model):
    code = models.CharField(
        max_length=32,
        primary_key=True,
        help_text="Upper-case identifier, e.g. PICK_DELAY.",
    )
    label = models.CharField(max_length=80)
    description = models.TextField()
    default_severity = models.CharField(max_length=16, choices=Severity.choices)
    escalation_hours = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Not acknowledged within this long: escalate one level.",
    )
    resolve_hours = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Acknowledged but not resolved within this long: escalate again.",
    )
    auto_resolve = models.BooleanField(
        default=False,
        help_text="Resolve by itself when the condition that opened it clears "
        "(e.g. the missing scan arrives).",
    )
    client_visible = models.BooleanField(
        default=True, help_text="The merchant may see it and its client note."
    )
    requires_approval = models.BooleanField(
        default=False, help_text="Automated actions need an operator's approval."
    )
    automate = models.BooleanField(
        default=False,
        help_text="E²A may try this code's playbook by itself (see Playbook actions); "
        "off: the playbook is only guidance for operators.",
    )
    typical_causes = models.JSONField(default=list, blank=True)
    recommended_actions = models.JSONField(default=list, blank=True)
    ops_note_template = models.TextField(
        help_text="Jinja2, filled from the exception's evidence, order and catalogue entry."
    )
    client_note_template = models.TextField(
        help_text="Jinja2 for the merchant's customer-facing note; same variables."
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Z][A-Z0-9_]*$"), name="reason_code_upper_snake"
            ),
            models.CheckConstraint(
                condition=Q(escalation_hours__gt=0) & Q(resolve_hours__gt=0),
                name="reason_code_hours_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.label}"

    def clean(self) -> None:
        from ..notes import template_errors

        errors = {
            name: message
            for name in ("ops_note_template", "client_note_template")
            if (message := template_errors(getattr(self, name)))
        }
        for name in ("typical_causes", "recommended_actions"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = "A list of short texts."
        if errors:
            raise ValidationError(errors)
