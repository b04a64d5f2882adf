"""Load the reason-code catalogue from fixtures/reason_codes.yaml.

Every database gets it, so detection and the rule-based notes work before anyone
opens the admin.
"""

from django.db import migrations


def load(apps, schema_editor):
    from exceptions.catalogue import catalogue_load

    catalogue_load(apps.get_model("exceptions", "ReasonCode"))


class Migration(migrations.Migration):
    dependencies = [("exceptions", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
