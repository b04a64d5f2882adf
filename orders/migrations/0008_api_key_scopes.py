"""Scoped API keys (issue 11) and the audit of their scopes.

Keys issued before scopes existed could ingest, read and act, and senders rely on
that: the column is added with `ingest read act` as its default, which fills every
existing row, and only then does the default become `ingest` for new keys.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_staff_roles_and_memberships"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiKeyScopeChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "changed_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                (
                    "changed_by_name",
                    models.CharField(
                        blank=True,
                        help_text="The username at the time, kept if the user is deleted later.",
                        max_length=150,
                    ),
                ),
                ("before", models.CharField(blank=True, max_length=200)),
                ("after", models.CharField(max_length=200)),
            ],
            options={
                "verbose_name": "API key scope change",
                "ordering": ["-changed_at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.CharField(
                default="ingest read act",
                help_text="What the key may do: scope names in canonical order, space-separated (see orders.scopes). Change them through api_key_set_scopes, which audits.",
                max_length=200,
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=models.CharField(
                default="ingest",
                help_text="What the key may do: scope names in canonical order, space-separated (see orders.scopes). Change them through api_key_set_scopes, which audits.",
                max_length=200,
            ),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "scopes__in",
                        [
                            "ingest",
                            "read",
                            "act",
                            "ingest read",
                            "ingest act",
                            "read act",
                            "ingest read act",
                        ],
                    )
                ),
                name="api_key_scopes_known",
            ),
        ),
        migrations.AddField(
            model_name="apikeyscopechange",
            name="api_key",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="scope_changes",
                to="orders.apikey",
            ),
        ),
        migrations.AddField(
            model_name="apikeyscopechange",
            name="changed_by",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty: a management command or migration, not a person in the console.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="apikeyscopechange",
            index=models.Index(fields=["api_key", "changed_at"], name="api_key_scope_change_idx"),
        ),
        migrations.AddConstraint(
            model_name="apikeyscopechange",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "after__in",
                        [
                            "ingest",
                            "read",
                            "act",
                            "ingest read",
                            "ingest act",
                            "read act",
                            "ingest read act",
                        ],
                    )
                ),
                name="api_key_scope_change_after_known",
            ),
        ),
        migrations.AddConstraint(
            model_name="apikeyscopechange",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("before", ""),
                    (
                        "before__in",
                        [
                            "ingest",
                            "read",
                            "act",
                            "ingest read",
                            "ingest act",
                            "read act",
                            "ingest read act",
                        ],
                    ),
                    _connector="OR",
                ),
                name="api_key_scope_change_before_known",
            ),
        ),
        migrations.AddConstraint(
            model_name="apikeyscopechange",
            constraint=models.CheckConstraint(
                condition=models.Q(("before", models.F("after")), _negated=True),
                name="api_key_scope_change_changes",
            ),
        ),
    ]
