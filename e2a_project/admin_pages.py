"""The intermediate page of an admin action that asks for a reason before it acts.

Resolve, reject a waiting action and void an invoice each list the rows they will
change, show a form and post back to the same action with the selected ids and
`apply`. The page is templates/admin/confirm_with_reason.html, extended by one
small template per action for its wording and its line per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse


def reason_form(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """The action's form: bound once the page was posted back (`apply`), empty before."""
    return form_class(request.POST if "apply" in request.POST else None)


def reason_given(form: forms.Form, request: HttpRequest) -> bool:
    """Whether the page was posted back with a valid form, so the action may go ahead."""
    return "apply" in request.POST and form.is_valid()


def confirm_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    template: str,
    *,
    title: str,
    form: forms.Form,
    objects: Iterable[Any],
    selected: Iterable[Any],
    action_name: str,
    form_when_empty: bool = False,
) -> TemplateResponse:
    """The page: `objects` are the rows listed, `selected` the rows posted back."""
    return TemplateResponse(
        request,
        template,
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "form": form,
            "objects": objects,
            "selected": selected,
            "action_name": action_name,
            "form_when_empty": form_when_empty,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )
