"""Catalogue changes for the earlier senders' problem flags (issue 10).

A fresh database gets them from fixtures/reason_codes.yaml (0002); an existing one
keeps its catalogue rows, so they are changed here, and only where nobody edited them:

* INVENTORY_SHORTAGE resolves itself: the order's short lines are now a condition
  (exceptions.rules.inventory_finding). Its `auto_resolve` had no effect before (no
  condition owned the code and SLA breaches never raise it), so turning it on
  overrides no choice an operator could have seen; a shortage the WMS reports is
  still never auto-resolved.
* The two notes name what the flags add: a line flagged short without a count, and
  payment issues the store reported.
"""

from django.db import migrations

OLD_SHORTAGE_NOTE = (
    "Order {{ order.external_id }} is short of stock{% if evidence.lines %}: "
    "{% for line in evidence.lines %}{{ line.sku }} needs {{ line.ordered }}, "
    "{{ line.available }} available{% if not loop.last %}; {% endif %}{% endfor %}{% endif %}."
)
OLD_PAYMENT_NOTE = (
    "Order {{ order.external_id }} payment is {{ evidence.financial_status }}. "
    "Hold it until the merchant confirms payment."
)


def forwards(apps, schema_editor):
    from exceptions.catalogue import read_catalogue

    ReasonCode = apps.get_model("exceptions", "ReasonCode")
    shipped = {entry["code"]: entry for entry in read_catalogue()}
    ReasonCode.objects.filter(code="INVENTORY_SHORTAGE").update(auto_resolve=True)
    for code, old in (("INVENTORY_SHORTAGE", OLD_SHORTAGE_NOTE), ("PAYMENT_FAILED", OLD_PAYMENT_NOTE)):
        ReasonCode.objects.filter(code=code, ops_note_template=old).update(
            ops_note_template=shipped[code]["ops_note_template"]
        )


def backwards(apps, schema_editor):
    from exceptions.catalogue import read_catalogue

    ReasonCode = apps.get_model("exceptions", "ReasonCode")
    shipped = {entry["code"]: entry for entry in read_catalogue()}
    ReasonCode.objects.filter(code="INVENTORY_SHORTAGE").update(auto_resolve=False)
    for code, old in (("INVENTORY_SHORTAGE", OLD_SHORTAGE_NOTE), ("PAYMENT_FAILED", OLD_PAYMENT_NOTE)):
        ReasonCode.objects.filter(
            code=code, ops_note_template=shipped[code]["ops_note_template"]
        ).update(ops_note_template=old)


class Migration(migrations.Migration):
    dependencies = [("exceptions", "0003_stats_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
