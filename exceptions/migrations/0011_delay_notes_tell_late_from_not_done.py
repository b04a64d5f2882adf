"""Late completions: the delay codes' notes said "has not been picked" (or packed,
shipped, delivered) of an order whose stage was done, late. The breach evidence now
carries the stage's `met_at`, and the templates say "was picked late" when it is set.
Each template is replaced where it is still the shipped one; an operator's own wording
is kept (as 0008 did)."""

from django.db import migrations

# (code, field): (the shipped text, the new text)
TEMPLATES = {
    ("PICK_DELAY", "ops_note_template"): (
        (
            "Order {{ order.external_id }} has not been picked{% if exception.late_minutes "
            "%}: {{ exception.late_minutes|round|int }} min past its pick deadline{% endif %} "
            "(allowed {{ evidence.allowed_minutes }} min{% if evidence.explanation %}; {{ "
            "evidence.explanation }}{% endif %}). Check the wave and the pick face."
        ),
        (
            "Order {{ order.external_id }} {% if evidence.met_at %}was picked late{% else "
            "%}has not been picked{% endif %}{% if exception.late_minutes %}: {{ "
            "exception.late_minutes|round|int }} min past its pick deadline{% endif %} "
            "(allowed {{ evidence.allowed_minutes }} min{% if evidence.explanation %}; {{ "
            "evidence.explanation }}{% endif %}). {% if evidence.met_at %}Check why its wave "
            "ran late.{% else %}Check the wave and the pick face.{% endif %}"
        ),
    ),
    ("PACK_DELAY", "ops_note_template"): (
        (
            "Order {{ order.external_id }} was picked but not packed{% if "
            "exception.late_minutes %}: {{ exception.late_minutes|round|int }} min past its "
            "pack deadline{% endif %} (allowed {{ evidence.allowed_minutes }} min). Check the "
            "pack station queue."
        ),
        (
            "Order {{ order.external_id }} {% if evidence.met_at %}was packed late{% else "
            "%}was picked but not packed{% endif %}{% if exception.late_minutes %}: {{ "
            "exception.late_minutes|round|int }} min past its pack deadline{% endif %} "
            "(allowed {{ evidence.allowed_minutes }} min). Check the pack station queue."
        ),
    ),
    ("SHIP_DELAY", "ops_note_template"): (
        (
            "Order {{ order.external_id }} is packed but has not shipped{% if "
            "exception.late_minutes %}: {{ exception.late_minutes|round|int }} min past its "
            "ship deadline{% endif %}. {% if order.carrier %}Carrier {{ order.carrier }}. {% "
            "endif %}Check staging and the carrier pickup."
        ),
        (
            "Order {{ order.external_id }} {% if evidence.met_at %}shipped late{% else %}is "
            "packed but has not shipped{% endif %}{% if exception.late_minutes %}: {{ "
            "exception.late_minutes|round|int }} min past its ship deadline{% endif %}. {% if "
            "order.carrier %}Carrier {{ order.carrier }}. {% endif %}Check staging and the "
            "carrier pickup."
        ),
    ),
    ("SHIP_DELAY", "client_note_template"): (
        (
            "Your order {{ order.external_id }} is ready and waiting for the carrier. It will "
            "ship with the next collection."
        ),
        (
            "{% if evidence.met_at %}Your order {{ order.external_id }} left our warehouse "
            "later than planned and is now on its way.{% else %}Your order {{ "
            "order.external_id }} is ready and waiting for the carrier. It will ship with the "
            "next collection.{% endif %}"
        ),
    ),
    ("DELIVERY_DELAY", "ops_note_template"): (
        (
            "Order {{ order.external_id }} is past its delivery promise{% if "
            "exception.late_minutes %} by {{ (exception.late_minutes / 60)|round(1) }} h{% "
            "endif %} and not delivered yet. {% if order.tracking_number %}Tracking {{ "
            "order.tracking_number }}. {% endif %}Check with the carrier."
        ),
        (
            "Order {{ order.external_id }} {% if evidence.met_at %}was delivered{% else "
            "%}is{% endif %} past its delivery promise{% if exception.late_minutes %} by {{ "
            "(exception.late_minutes / 60)|round(1) }} h{% endif %}{% if not evidence.met_at "
            "%} and not delivered yet{% endif %}. {% if order.tracking_number %}Tracking {{ "
            "order.tracking_number }}. {% endif %}Check with the carrier."
        ),
    ),
    ("DELIVERY_DELAY", "client_note_template"): (
        (
            "Order {{ order.external_id }} is taking longer to arrive than promised. We are "
            "following up with the carrier."
        ),
        (
            "{% if evidence.met_at %}Order {{ order.external_id }} arrived later than "
            "promised. We are sorry for the delay.{% else %}Order {{ order.external_id }} is "
            "taking longer to arrive than promised. We are following up with the carrier.{% "
            "endif %}"
        ),
    ),
}


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def forwards(apps, schema_editor):
    ReasonCode = apps.get_model("exceptions", "ReasonCode")
    for (code, field), (shipped, new) in TEMPLATES.items():
        for row in ReasonCode.objects.filter(code=code):
            if _same(getattr(row, field), shipped):
                setattr(row, field, new)
                row.save(update_fields=[field])


class Migration(migrations.Migration):
    dependencies = [("exceptions", "0010_tenant_seen_index_carries_reason")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
