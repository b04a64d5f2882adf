"""Operator console screens for tenants, keys, orders, events and dead letters."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from .admin_scoping import TenantScopedAdmin
from .models import (
    ApiKey,
    ApiKeyScopeChange,
    DeadLetter,
    FollowUpFailure,
    Order,
    OrderEvent,
    Tenant,
    WebhookSecret,
)
from .projection import ATTRIBUTE_FIELDS
from .scopes import DEFAULT_SCOPES, ApiKeyScope, UnknownScope, scopes_from_db, scopes_to_db
from .services.api_keys import api_key_create, api_key_revoke, api_key_set_scopes
from .services.dead_letters import dead_letter_replay
from .services.followup_failures import followup_failures_replay
from .services.tenants import validate_timezone, validate_webhook_secret


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "timezone", "is_active"]

    def clean_timezone(self) -> str:
        return validate_timezone(self.cleaned_data["timezone"])


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = ""  # the row is the tenant
    form = TenantForm
    list_display = ["slug", "name", "timezone", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]


class ApiKeyForm(forms.ModelForm):
    """Scopes as checkboxes; the form cleans them to the stored canonical string."""

    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[scope.value for scope in DEFAULT_SCOPES],
        help_text="What the key may do. A change reaches every web process within "
        "API_KEY_CACHE_SECONDS and is recorded below with who made it.",
    )

    class Meta:
        model = ApiKey
        fields = ["tenant", "name", "scopes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A list, not the stored string: has_changed would compare its characters.
            self.initial["scopes"] = sorted(self.instance.scope_set)

    def clean_scopes(self) -> str:
        try:
            return scopes_to_db(self.cleaned_data["scopes"])
        except UnknownScope as exc:
            raise ValidationError(str(exc), code="invalid_scope") from exc


class ApiKeyScopeChangeInline(admin.TabularInline):
    """The key's scope audit, newest first: read-only, as an audit is."""

    model = ApiKeyScopeChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "who", "scopes_before", "after"]
    readonly_fields = fields
    verbose_name_plural = "Scope changes (who, when, before → after)"

    @admin.display(description="Changed by")
    def who(self, obj: ApiKeyScopeChange) -> str:
        # No user: a management command (create_api_key, bootstrap_demo) or a migration.
        return obj.changed_by_name or "command line"

    @admin.display(description="Before")
    def scopes_before(self, obj: ApiKeyScopeChange) -> str:
        return obj.before or "(issued)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    form = ApiKeyForm
    inlines = [ApiKeyScopeChangeInline]
    list_display = [
        "prefix",
        "tenant",
        "name",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["tenant", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["tenant"]
    search_fields = ["prefix", "name", "tenant__slug"]
    fields = ["tenant", "name", "scopes", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [*self.readonly_fields, "tenant"] if obj else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: ApiKey | None) -> list[Any]:
        return self.inlines if obj else []  # a key being issued has no history yet

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        scopes = scopes_from_db(form.cleaned_data["scopes"])
        if change:
            # Only the name is saved as a plain edit; the scopes go through the
            # service, which locks the row, records the audit entry and drops the
            # cached key, so a concurrent edit is never overwritten unrecorded.
            obj.save(update_fields=["name"])
            api_key_set_scopes(api_key=obj, scopes=scopes, changed_by=request.user)
            return
        issued = api_key_create(
            tenant=obj.tenant, name=obj.name, scopes=scopes, issued_by=request.user
        )
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        messages.warning(
            request,
            f"New API key for {obj.tenant.slug} — copy it now, it is not shown again: {issued.raw}",
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(api_key_revoke(api_key=key) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).")


class WebhookSecretForm(forms.ModelForm):
    class Meta:
        model = WebhookSecret
        fields = ["tenant", "kind", "secret", "label", "is_active"]
        widgets = {"secret": forms.PasswordInput(render_value=False)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The stored secret is never rendered, so it cannot be required back.
            self.fields["secret"].required = False
            self.fields["secret"].help_text = "Leave blank to keep the current secret."

    def clean_secret(self) -> str:
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") and data.get("secret"):
            try:
                validate_webhook_secret(data["kind"], data["secret"])
            except ValidationError as exc:
                self.add_error("secret", exc)
        return data


@admin.register(WebhookSecret)
class WebhookSecretAdmin(TenantScopedAdmin):
    form = WebhookSecretForm
    list_display = ["tenant", "kind", "masked", "label", "is_active", "created_at"]
    list_filter = ["kind", "is_active", "tenant"]
    list_select_related = ["tenant"]
    list_editable = ["is_active"]


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["occurred_at", "event_type", "source", "event_id", "received_at", "processed_at"]
    readonly_fields = fields
    ordering = ["occurred_at", "id"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


STAGE_FIELDS = [
    "placed_at",
    "paid_at",
    "pick_started_at",
    "picked_at",
    "pack_started_at",
    "packed_at",
    "label_printed_at",
    "manifested_at",
    "shipped_at",
    "in_transit_at",
    "out_for_delivery_at",
    "delivery_failed_at",
    "delivered_at",
    "returned_at",
    "cancelled_at",
]


# What apps above `orders` add to the order screens, so the operator sees an order
# whole without `orders` importing them (they fill these when their admin loads).
#
# Inlines on the order page: the SLA clocks and breaches, the exceptions.
ORDER_INLINES: list[type[admin.options.InlineModelAdmin]] = []
# Columns of the order list, shown after the status (the SLA stage cells). Each is
# a list_display callable of the order row; it reads the row only: a list of 100
# orders must not cost 100 more queries.
ORDER_LIST_COLUMNS: list[Callable[[Order], Any]] = []
# Filters of the order list, after the stock ones (the "SLA now" filter).
ORDER_LIST_FILTERS: list[Any] = []
# Stylesheets (static paths) those columns need, on the list and the order page.
ORDER_ADMIN_CSS: list[str] = []
# Links at the top of an order page to its rows on other screens ("3 exceptions
# (1 open)", "2 invoice lines"): each provider answers (label, url) pairs, none
# for a user who may not open that screen.
OrderLink = tuple[str, str]
ORDER_LINKS: list[Callable[[HttpRequest, Order], list[OrderLink]]] = []


@admin.register(Order)
class OrderAdmin(TenantScopedAdmin):
    # Service level, warehouse, carrier, the event count and the last event's time
    # left the list when the stage cells came: with them it was twice as wide as a
    # 1366-px screen with the menu and filter open. The cells say when each stage
    # was done or is due; the list is still newest event first, with the date bar;
    # the first two are filters; all are on the order page.
    list_display = ["external_id", "tenant", "status"]
    list_filter = ["tenant", "status", "service_level", "warehouse"]
    list_select_related = ["tenant"]
    search_fields = ["external_id", "tracking_number"]
    date_hierarchy = "last_event_at"
    inlines = [OrderEventInline]
    fieldsets = [
        (
            None,
            {"fields": ["tenant", "external_id", "source", "channel", "status", "status_as_of"]},
        ),
        ("Stage times (first report)", {"fields": [*STAGE_FIELDS, "failed_delivery_attempts"]}),
        (
            "Details",
            {"fields": [f for f in ATTRIBUTE_FIELDS if f != "channel"]},
        ),
        (
            "Bookkeeping",
            {"fields": ["event_count", "last_event_at", "first_seen_at", "updated_at"]},
        ),
    ]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return [*self.inlines, *ORDER_INLINES]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The registered columns right after the status: "where is it, and is it
        # on time" is what an operator reads a row for.
        base = list(super().get_list_display(request))
        at = base.index("status") + 1 if "status" in base else len(base)
        return [*base[:at], *ORDER_LIST_COLUMNS, *base[at:]]

    def get_list_filter(self, request: HttpRequest) -> Any:
        return [*super().get_list_filter(request), *ORDER_LIST_FILTERS]

    @property
    def media(self) -> forms.Media:
        # A property: the registries are filled after this class is defined.
        css = ["orders/admin/order.css", *ORDER_ADMIN_CSS]
        return super().media + forms.Media(css={"all": css})

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Order | None = None,
    ) -> Any:
        # The links line (admin/orders/order/change_form.html): one count query per
        # provider, on this page only, never on the list.
        if obj is not None:
            context["order_links"] = [
                link for provider in ORDER_LINKS for link in provider(request, obj)
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # With its tenant, so a page's title names the order as "demo-3pl #1001".
        return super().get_queryset(request).select_related("tenant")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The projection is rebuilt from events only; editing it here would be lost.
        return [f.name for f in Order._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrderEvent)
class OrderEventAdmin(TenantScopedAdmin):
    list_display = [
        "occurred_at",
        "tenant",
        "order",
        "event_type",
        "source",
        "event_id",
        "channel",
        "received_at",
        "processed_at",
    ]
    list_filter = [
        "tenant",
        "source",
        "channel",
        "event_type",
        ("processed_at", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["tenant", "order"]
    search_fields = ["event_id", "order__external_id", "correlation_id"]
    date_hierarchy = "occurred_at"
    readonly_fields = [
        "tenant",
        "order",
        "source",
        "event_type",
        "event_id",
        "occurred_at",
        "received_at",
        "channel",
        "correlation_id",
        "processed_at",
        "pretty_payload",
    ]
    exclude = ["payload"]

    @admin.display(description="Payload")
    def pretty_payload(self, obj: OrderEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(TenantScopedAdmin):
    list_display = [
        "id",
        "tenant",
        "kind",
        "short_reason",
        "times_received",
        "last_received_at",
        "replay_attempts",
        "replayed_at",
    ]
    list_filter = ["tenant", "kind", ("replayed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["tenant"]
    search_fields = ["reason", "raw_body", "correlation_id"]
    actions = ["replay"]
    readonly_fields = [
        "tenant",
        "kind",
        "source",
        "reason",
        "error_list",
        "pretty_body",
        "headers",
        "correlation_id",
        "received_at",
        "last_received_at",
        "times_received",
        "replay_attempts",
        "last_replay_at",
        "replayed_at",
        "replay_result",
        "event",
    ]
    exclude = ["raw_body", "errors", "body_sha256"]

    @admin.display(description="Reason")
    def short_reason(self, obj: DeadLetter) -> str:
        return obj.reason[:120]

    @admin.display(description="Errors")
    def error_list(self, obj: DeadLetter) -> str:
        if not isinstance(obj.errors, dict) or not obj.errors:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><b>{}</b>: {}</li>",
                (
                    (k, " ".join(map(str, v)) if isinstance(v, list) else v)
                    for k, v in obj.errors.items()
                ),
            ),
        )

    @admin.display(description="Body")
    def pretty_body(self, obj: DeadLetter) -> str:
        try:
            text = json.dumps(json.loads(obj.raw_body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.raw_body
        return format_html("<pre>{}</pre>", text)

    def has_replay_dead_letter_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.replay_dead_letter")

    @admin.action(description="Replay selected dead letters", permissions=["replay_dead_letter"])
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        pending = queryset.filter(replayed_at__isnull=True)
        skipped = queryset.count() - pending.count()
        ok = failed = 0
        for letter in pending.select_related("tenant").order_by("pk"):
            result = dead_letter_replay(dead_letter=letter)
            ok += result.ok
            failed += not result.ok
        level = messages.SUCCESS if not failed else messages.WARNING
        note = f" ({skipped} already replayed, skipped)" if skipped else ""
        self.message_user(request, f"Replayed {ok}; still failing {failed}.{note}", level=level)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FollowUpStateFilter(admin.SimpleListFilter):
    """Parked (waits for a replay) or retrying by itself, as an operator asks it."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("parked", "Parked: waits for a replay"), ("retrying", "Retrying by itself")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "parked":
            return queryset.filter(parked_at__isnull=False)
        if self.value() == "retrying":
            return queryset.filter(parked_at__isnull=True)
        return queryset


@admin.register(FollowUpFailure)
class FollowUpFailureAdmin(TenantScopedAdmin):
    """Events whose worker follow-up keeps failing: retrying by themselves, or parked."""

    tenant_field = "event__tenant"

    list_display = [
        "event_link",
        "order",
        "handler",
        "attempts",
        "short_error",
        "state",
        "last_failed_at",
        "replays",
    ]
    list_filter = [FollowUpStateFilter, "handler", "event__tenant"]
    list_select_related = ["event", "event__order", "event__tenant"]
    search_fields = ["event__event_id", "event__order__external_id", "last_error"]
    actions = ["replay"]
    readonly_fields = [
        "event",
        "handler",
        "attempts",
        "last_error_text",
        "first_failed_at",
        "last_failed_at",
        "next_attempt_at",
        "parked_at",
        "replays",
    ]
    exclude = ["last_error"]

    @admin.display(description="Event", ordering="event__received_at")
    def event_link(self, obj: FollowUpFailure) -> str:
        return str(obj.event)

    @admin.display(description="Order", ordering="event__order__external_id")
    def order(self, obj: FollowUpFailure) -> str:
        return obj.event.order.external_id

    @admin.display(description="Last error")
    def short_error(self, obj: FollowUpFailure) -> str:
        return obj.last_error[:120]

    @admin.display(description="Last error")
    def last_error_text(self, obj: FollowUpFailure) -> str:
        return format_html("<pre>{}</pre>", obj.last_error)

    @admin.display(description="State", ordering="parked_at")
    def state(self, obj: FollowUpFailure) -> str:
        if obj.parked_at:
            return "parked: waits for a replay"
        return f"retrying at {obj.next_attempt_at:%Y-%m-%d %H:%M}"

    def has_replay_followup_failure_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.replay_followup_failure")

    @admin.action(
        description="Replay selected parked follow-ups", permissions=["replay_followup_failure"]
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[FollowUpFailure]) -> None:
        replayed = followup_failures_replay(failures=queryset.order_by("pk"))
        skipped = queryset.count() - replayed
        note = f" ({skipped} not parked, left to retry by themselves)" if skipped else ""
        self.message_user(request, f"Queued {replayed} follow-ups again.{note}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
