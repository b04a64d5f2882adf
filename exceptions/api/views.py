"""The exceptions API: list, detail, lifecycle actions, notes and stats.

Thin views over `exceptions.selectors` and `exceptions.services.lifecycle`: each
parses with a serializer, calls one selector or service for the caller's tenant,
and renders. The lifecycle's refusals become HTTP answers in one place
(`ExceptionView.handle_exception`): an action the status does not allow is a
409 naming the allowed ones, a bad value a 400 naming the field, another
tenant's (or no) exception a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from e2a_project.openapi import ErrorSchema
from orders.scopes import ApiKeyScope
from slas.api.views import order_body

from ..analysis_hooks import analysis_requested
from ..automation.services import NothingWaiting, action_approve, action_reject
from ..models import ActionRun, OrderException
from ..selectors import exception_detail, exception_list, exception_stats
from ..services import lifecycle
from ..transitions import TransitionRefused
from . import serializers as io
from .authentication import TENANT_HEADER, TenantScopedView


class TransitionConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "transition_refused"

    def __init__(self, refused: TransitionRefused) -> None:
        super().__init__(
            {
                "detail": str(refused),
                "code": self.default_code,
                "action": refused.action,
                "status": refused.status,
                "allowed_actions": refused.allowed,
            }
        )


ERRORS = {
    400: OpenApiResponse(ErrorSchema, description="Invalid fields (named in `errors`)."),
    401: OpenApiResponse(ErrorSchema, description="No credentials."),
    403: OpenApiResponse(ErrorSchema, description="Not staff, or another tenant's key."),
    404: OpenApiResponse(ErrorSchema, description="No such exception for this tenant."),
}
WRITE_ERRORS = {
    **ERRORS,
    409: OpenApiResponse(io.ConflictSerializer, description="Not allowed in the current status."),
}
TENANT_PARAMETER = OpenApiParameter(
    TENANT_HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Staff sessions: the tenant's slug or id (required). API keys: optional, "
    "must name the key's own tenant.",
)
AUTH_DESCRIPTION = (
    f"Authorization: Bearer <API key> (the key's tenant), or a staff operator's admin "
    f"session naming the tenant in {TENANT_HEADER} (slug or id) and sending the CSRF "
    f"token on writes."
)


def exceptions_schema(
    *, description: str = "", parameters: list[Any] | None = None, **kwargs: Any
) -> Any:
    """extend_schema with what every operation here shares: the tag, how to authenticate."""
    return extend_schema(
        description=f"{description} {AUTH_DESCRIPTION}".strip(),
        parameters=[*(parameters or []), TENANT_PARAMETER],
        tags=["exceptions"],
        **kwargs,
    )


class ExceptionPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class ExceptionView(TenantScopedView):
    """Maps the lifecycle's refusals to HTTP; every exceptions view derives from it."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, OrderException.DoesNotExist):
            exc = exceptions.NotFound("No such exception for this tenant.")
        elif isinstance(exc, TransitionRefused):
            exc = TransitionConflict(exc)
        elif isinstance(exc, lifecycle.InvalidChange):
            exc = exceptions.ValidationError({exc.field: [str(exc)]})
        return super().handle_exception(exc)

    def apply(
        self,
        service: Callable[..., OrderException],
        body_class: type[serializers.Serializer],
        *,
        request: Request,
        exception_id: int,
    ) -> Response:
        """Parse the body, call the service for this tenant's exception, render the result."""
        now = timezone.now()
        body = body_class(data=request.data, context={"now": now})
        body.is_valid(raise_exception=True)
        exception = service(
            exception_id=exception_id,
            actor=self.actor,
            tenant_id=self.tenant.pk,
            now=now,
            **body.validated_data,
        )
        return Response(io.ExceptionSerializer(exception).data)


class ExceptionListView(ExceptionView):
    required_scopes = {"GET": ApiKeyScope.READ}

    @exceptions_schema(
        operation_id="exceptions_list",
        parameters=[io.ExceptionListQuery],
        responses={200: io.ExceptionPageSerializer, **ERRORS},
        summary="The tenant's exceptions, filtered, newest activity first, paginated",
    )
    def get(self, request: Request) -> Response:
        query = io.ExceptionListQuery(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        rows = exception_list(tenant=self.tenant, now=timezone.now(), **query.validated_data)
        paginator = ExceptionPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(io.ExceptionSerializer(page, many=True).data)


class ExceptionDetailView(ExceptionView):
    # Reading needs `read`; replacing the notes changes what operators and clients
    # see, so it is an action like the lifecycle's.
    required_scopes = {"GET": ApiKeyScope.READ, "PATCH": ApiKeyScope.ACT}

    @exceptions_schema(
        operation_id="exceptions_retrieve",
        responses={200: io.ExceptionDetailSerializer, **ERRORS},
        summary="One exception with its order's timeline, SLA clocks, breaches and activity",
    )
    def get(self, request: Request, exception_id: int) -> Response:
        now = timezone.now()
        detail = exception_detail(tenant=self.tenant, exception_id=exception_id, now=now)
        order = order_body(detail.order, False, now)
        return Response(io.exception_detail_body(detail, order=order))

    @exceptions_schema(
        request=io.NotesBody,
        responses={200: io.ExceptionSerializer, **WRITE_ERRORS},
        summary="Replace the ops and/or client note (the explanation becomes the operator's)",
    )
    def patch(self, request: Request, exception_id: int) -> Response:
        return self.apply(
            lifecycle.exception_update_notes,
            io.NotesBody,
            request=request,
            exception_id=exception_id,
        )


class ExceptionActionView(ExceptionView):
    """POST /api/exceptions/<id>/<action>: one subclass per lifecycle service."""

    required_scopes = {"POST": ApiKeyScope.ACT}
    service: ClassVar[Callable[..., OrderException]]
    body_class: ClassVar[type[serializers.Serializer]] = io.NoteBody

    def post(self, request: Request, exception_id: int) -> Response:
        return self.apply(
            type(self).service, self.body_class, request=request, exception_id=exception_id
        )


def _action_schema(summary: str, body: type[serializers.Serializer]) -> Any:
    return exceptions_schema(
        request=body, responses={200: io.ExceptionSerializer, **WRITE_ERRORS}, summary=summary
    )


@_action_schema("Acknowledge: someone has seen it (OPEN → ACKNOWLEDGED)", io.NoteBody)
class AcknowledgeView(ExceptionActionView):
    service = lifecycle.exception_acknowledge


@_action_schema("Start work on it (OPEN/ACKNOWLEDGED → IN_PROGRESS)", io.NoteBody)
class StartView(ExceptionActionView):
    service = lifecycle.exception_start


@_action_schema("Assign to an operator (username or id), or unassign with null", io.AssignBody)
class AssignView(ExceptionActionView):
    service = lifecycle.exception_assign
    body_class = io.AssignBody


@_action_schema(
    "Snooze escalation until a time, or for some minutes (at most 30 days)", io.SnoozeBody
)
class SnoozeView(ExceptionActionView):
    service = lifecycle.exception_snooze
    body_class = io.SnoozeBody


@_action_schema("Resolve, saying how (→ RESOLVED)", io.ResolveBody)
class ResolveView(ExceptionActionView):
    service = lifecycle.exception_resolve
    body_class = io.ResolveBody


@_action_schema("Reopen a resolved exception (RESOLVED → OPEN)", io.NoteBody)
class ReopenView(ExceptionActionView):
    service = lifecycle.exception_reopen


@_action_schema("Close a resolved exception for good (RESOLVED → CLOSED)", io.NoteBody)
class CloseView(ExceptionActionView):
    service = lifecycle.exception_close


class ReanalyzeView(ExceptionView):
    """POST /api/exceptions/<id>/reanalyze: queue a fresh analysis (model or rules)."""

    required_scopes = {"POST": ApiKeyScope.AI}

    @exceptions_schema(
        request=None,
        responses={202: io.QueuedSerializer, **WRITE_ERRORS},
        summary="Queue a fresh analysis of the notes (a model call when one is configured)",
        description="The answer comes at once; the analysis runs on the ai queue and "
        "records an explanation (used, or why the catalogue's notes were kept). "
        "An operator's own notes are never replaced.",
    )
    def post(self, request: Request, exception_id: int) -> Response:
        exception = OrderException.objects.only("pk").get(pk=exception_id, tenant=self.tenant)
        analysis_requested(exception.pk, why="manual")
        return Response(
            {"status": "queued", "exception_id": exception.pk}, status=status.HTTP_202_ACCEPTED
        )


class NoWaitingAction(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "no_waiting_action"

    def __init__(self, message: str) -> None:
        super().__init__({"detail": message, "code": self.default_code})


ACTION_ERRORS = {
    **WRITE_ERRORS,
    409: OpenApiResponse(
        io.NoWaitingActionSerializer,
        description="No action waits for approval (or not the one named), or the "
        "exception's status allows no decision.",
    ),
}


class ActionDecisionView(ExceptionView):
    """Approve or reject the automated action waiting on an exception."""

    required_scopes = {"POST": ApiKeyScope.ACT}

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NothingWaiting):
            exc = NoWaitingAction(str(exc))
        return super().handle_exception(exc)

    def decide(
        self,
        request: Request,
        exception_id: int,
        body_class: type[serializers.Serializer],
        service: Callable[..., ActionRun],
    ) -> Response:
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        run = service(
            exception_id=exception_id,
            actor=self.actor,
            tenant_id=self.tenant.pk,
            run_id=data.pop("action_id", None),
            **data,
        )
        return Response(io.ActionRunSerializer(run).data)


class ApproveActionView(ActionDecisionView):
    @exceptions_schema(
        request=io.ApproveActionBody,
        responses={200: io.ActionRunSerializer, **ACTION_ERRORS},
        summary="Approve the automated action waiting on this exception (it runs next)",
        description="The action is queued to run once the approval is recorded; its "
        "outcome appears on the action and in the exception's activity.",
    )
    def post(self, request: Request, exception_id: int) -> Response:
        return self.decide(request, exception_id, io.ApproveActionBody, action_approve)


class RejectActionView(ActionDecisionView):
    @exceptions_schema(
        request=io.RejectActionBody,
        responses={200: io.ActionRunSerializer, **ACTION_ERRORS},
        summary="Reject the automated action waiting on this exception, saying why",
        description="A rejected action is not proposed again for this exception.",
    )
    def post(self, request: Request, exception_id: int) -> Response:
        return self.decide(request, exception_id, io.RejectActionBody, action_reject)


class ExceptionStatsView(ExceptionView):
    required_scopes = {"GET": ApiKeyScope.READ}

    @exceptions_schema(
        parameters=[io.ExceptionStatsQuery],
        responses={200: io.ExceptionStatsSerializer, **ERRORS},
        summary="Counts by status, severity and reason; MTTA and MTTR, for a period",
        description="Counts cover exceptions first seen in [since, until); MTTA and MTTR "
        "average, over exceptions opened in the period, the minutes from opening to the "
        "first acknowledged/started and resolved/auto_resolved activity. Dates and "
        "date-times without an offset are read in the tenant's time zone.",
    )
    def get(self, request: Request) -> Response:
        context = {"now": timezone.now(), "tz": ZoneInfo(self.tenant.timezone)}
        query = io.ExceptionStatsQuery(data=request.query_params, context=context)
        query.is_valid(raise_exception=True)
        stats = exception_stats(tenant=self.tenant, **query.validated_data)
        return Response(io.ExceptionStatsSerializer(stats).data)
