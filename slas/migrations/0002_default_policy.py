"""Load the default SLA policy from fixtures/sla_default_policy.yaml.

Every database gets it, so a tenant's orders are on the clock from their first
event even before anyone opens the admin.
"""

from django.db import migrations


def load(apps, schema_editor):
    from slas.defaults import default_policy_upsert

    default_policy_upsert(apps.get_model("slas", "SlaPolicy"), apps.get_model("slas", "PeakSeason"), strict=False)


class Migration(migrations.Migration):
    dependencies = [("slas", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
