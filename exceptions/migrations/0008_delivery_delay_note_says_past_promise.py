"""DELIVERY_DELAY's ops note said nothing of the missed promise when the scan opened it
right at the deadline (late 0 min). Replace the template where it is still the shipped
one; an operator's own wording is kept."""

from django.db import migrations

OLD = (
    "Order {{ order.external_id }} is not delivered{% if exception.late_minutes %}:\n"
    "{{ (exception.late_minutes / 60)|round(1) }} h past its delivery promise{% endif %}.\n"
    "{% if order.tracking_number %}Tracking {{ order.tracking_number }}. {% endif %}"
    "Check with the carrier."
)
NEW = (
    "Order {{ order.external_id }} is past its delivery promise{% if exception.late_minutes %}"
    " by {{ (exception.late_minutes / 60)|round(1) }} h{% endif %} and not delivered yet. "
    "{% if order.tracking_number %}Tracking {{ order.tracking_number }}. {% endif %}"
    "Check with the carrier."
)


def forwards(apps, schema_editor):
    ReasonCode = apps.get_model("exceptions", "ReasonCode")
    for row in ReasonCode.objects.filter(code="DELIVERY_DELAY"):
        if " ".join(row.ops_note_template.split()) == " ".join(OLD.split()):
            row.ops_note_template = NEW
            row.save(update_fields=["ops_note_template"])


class Migration(migrations.Migration):
    dependencies = [("exceptions", "0007_explanations")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
