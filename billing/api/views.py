"""The invoice API: list, detail with evidence, CSV export and a printable page.

Thin views over `billing.selectors`: each parses its query with a serializer,
reads for the tenants the caller may see (`authentication.readable_tenants`) and
renders. Reads only: issuing, paying and voiding stay in the console, where
Finance works, and in `billing.services`.

The CSV and the page are streamed (`billing.api.exports`), so they are plain
Django responses; their errors are still the API's JSON ones, because the content
negotiation here accepts their media types but always renders with JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.mediatypes import media_type_matches, order_by_precedence

from e2a_project.openapi import E2AAutoSchema, ErrorSchema
from e2a_project.renderers import ORJSONRenderer
from orders.scopes import ApiKeyScope

from ..leaks import revenue_leaks
from ..models import Invoice
from ..selectors import invoice_detail, invoice_get, invoice_list
from . import serializers as io
from .authentication import READ_PERMISSION, InvoiceApiView
from .exports import CSV_COLUMNS, NO_TAX_SENTENCE, csv_filename, invoice_csv, invoice_print_page

JSON = "application/json"
CSV = "text/csv"
HTML = "text/html"

# Keyed with the media type, so the CSV and HTML operations document their errors as
# JSON (what they are) rather than in every media type the view can produce.
ERRORS = {
    (400, JSON): OpenApiResponse(
        ErrorSchema, description="Invalid query values (named in `errors`)."
    ),
    (401, JSON): OpenApiResponse(ErrorSchema, description="No credentials."),
    (403, JSON): OpenApiResponse(
        ErrorSchema,
        description=f"A session without {READ_PERMISSION} (Operator, Viewer), or an API key "
        "naming another tenant in X-Tenant-Id.",
    ),
}
DETAIL_ERRORS = {
    **ERRORS,
    (404, JSON): OpenApiResponse(ErrorSchema, description="No such invoice for this caller."),
}
AUTH_DESCRIPTION = (
    "Authorization: Bearer <API key> (the key's own tenant's invoices), or the admin "
    f"session of a staff member with {READ_PERMISSION} (Finance, Admin): the invoices of "
    "the tenants they work for."
)


def invoices_schema(*, description: str = "", **kwargs: Any) -> Any:
    """extend_schema with what every operation here shares: the tag, how to authenticate."""
    return extend_schema(
        description=f"{description} {AUTH_DESCRIPTION}".strip(), tags=["invoices"], **kwargs
    )


class StreamedMediaType(BaseRenderer):
    """A media type a view streams itself: offered to content negotiation, never chosen to
    render (JSONForErrors hands DRF the JSON renderer); if it were, it would write JSON."""

    def render(self, data: Any, accepted_media_type: str | None = None, context: Any = None):
        return ORJSONRenderer().render(data, accepted_media_type, context)


class CSVMediaType(StreamedMediaType):
    media_type = CSV
    format = "csv"


class HTMLMediaType(StreamedMediaType):
    media_type = HTML
    format = "html"


class JSONForErrors(DefaultContentNegotiation):
    """406 unless the Accept header allows one of the view's media types; then JSON for
    whatever DRF renders itself (the errors): the document is streamed around it.

    A `?format=` override is not offered: the document is the only success answer.
    """

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        for media_types in order_by_precedence(self.get_accept_list(request)):
            for renderer in renderers:
                if any(media_type_matches(renderer.media_type, wanted) for wanted in media_types):
                    return renderers[0], renderers[0].media_type
        raise exceptions.NotAcceptable(available_renderers=renderers)


class DocumentSchema(E2AAutoSchema):
    """The CSV and print operations: no `format` parameter (JSONForErrors reads none)."""

    def _get_format_parameters(self) -> list[dict[str, Any]]:
        return []


class InvoicePagination(LimitOffsetPagination):
    default_limit = io.LIST_DEFAULT_LIMIT
    max_limit = io.LIST_MAX_LIMIT


class InvoiceListView(InvoiceApiView):
    required_scopes = {"GET": ApiKeyScope.FINANCE}

    @invoices_schema(
        operation_id="invoices_list",
        parameters=[io.InvoiceListQuery],
        responses={200: io.InvoicePageSerializer, **ERRORS},
        summary="Invoices, newest month first, by month and status, paginated",
    )
    def get(self, request: Request) -> Response:
        query = io.InvoiceListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = {k: v for k, v in query.validated_data.items() if k not in ("limit", "offset")}
        rows = invoice_list(tenants=self.tenants, **filters)
        paginator = InvoicePagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        body = io.InvoiceSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(body)


class RevenueLeakListView(InvoiceApiView):
    required_scopes = {"GET": ApiKeyScope.FINANCE}

    @invoices_schema(
        operation_id="billing_leaks_list",
        parameters=[io.LeakListQuery],
        responses={200: io.LeakPageSerializer, **ERRORS},
        summary="Revenue leaks: shipped orders without the pick or pack evidence to bill them",
        description="No evidence, no charge: these orders shipped, but their pick or pack "
        "scan never arrived, so billing cannot charge that work. Latest shipped first.",
    )
    def get(self, request: Request) -> Response:
        query = io.LeakListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = revenue_leaks(tenants=list(self.tenants), period=query.validated_data.get("period"))
        paginator = InvoicePagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(io.LeakSerializer(page, many=True).data)


class InvoiceDetailView(InvoiceApiView):
    required_scopes = {"GET": ApiKeyScope.FINANCE}

    @invoices_schema(
        operation_id="invoices_retrieve",
        parameters=[io.InvoiceLinesQuery],
        responses={200: io.InvoiceDetailSerializer, **DETAIL_ERRORS},
        summary="One invoice: totals, month lines, and its order lines with their evidence",
        description="Order lines come a page at a time (`limit`, `offset`; `lines.next` "
        "links the next page); each cites the events that prove its operations (type, the "
        "sender's event id, when it occurred). `csv_url` exports every line at once.",
    )
    def get(self, request: Request, invoice_id: int) -> Response:
        query = io.InvoiceLinesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        detail = invoice_detail(tenants=self.tenants, invoice_id=invoice_id, **query.validated_data)
        return Response(io.invoice_detail_body(detail, request=request, **query.validated_data))


class InvoiceDocumentView(InvoiceApiView):
    """One invoice of the caller's tenants (404 otherwise), streamed as a document.

    A view names its media type last in `renderer_classes` (after the JSON its errors
    use), writes the document in `document()`, and may name the file in `filename()`.
    Its schema goes on the inherited `get` with `@extend_schema_view`.
    """

    content_negotiation_class = JSONForErrors
    schema = DocumentSchema()

    def document(self, invoice: Invoice) -> Iterator[str]:
        raise NotImplementedError

    def filename(self, invoice: Invoice) -> str | None:
        """The download's name (an attachment); None shows the document in the browser."""
        return None

    def get(self, request: Request, invoice_id: int) -> StreamingHttpResponse:
        invoice = invoice_get(tenants=self.tenants, invoice_id=invoice_id)
        media_type = self.renderer_classes[-1].media_type
        response = StreamingHttpResponse(
            self.document(invoice), content_type=f"{media_type}; charset=utf-8"
        )
        if (filename := self.filename(invoice)) is not None:
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


@extend_schema_view(
    get=invoices_schema(
        operation_id="invoices_export_csv",
        responses={
            (200, CSV): OpenApiResponse(
                OpenApiTypes.STR,
                description="A header row, then one row per line: the order lines, then the "
                "month's lines. Amounts in minor units (`*_cents`) and in the currency "
                "(`amount`); per operation, when it first happened (`*_at`), E²A's event ids "
                "(`*_event_ids`, space-separated) and the senders' (`*_sender_event_ids`, one "
                "per line in the cell). Text a spreadsheet would run as a formula starts "
                f"with an apostrophe. Columns: {', '.join(CSV_COLUMNS)}.",
                examples=[
                    OpenApiExample("Header", value=",".join(CSV_COLUMNS) + "\r\n", media_type=CSV)
                ],
            ),
            **DETAIL_ERRORS,
        },
        summary="Every line of an invoice with its evidence, as CSV (streamed)",
        description="The full export, however many lines the month has: streamed, so the "
        "first rows arrive at once.",
    )
)
class InvoiceExportView(InvoiceDocumentView):
    required_scopes = {"GET": ApiKeyScope.FINANCE}
    renderer_classes = [ORJSONRenderer, CSVMediaType]

    def document(self, invoice: Invoice) -> Iterator[str]:
        return invoice_csv(invoice)

    def filename(self, invoice: Invoice) -> str:
        return csv_filename(invoice)


@extend_schema_view(
    get=invoices_schema(
        operation_id="invoices_print",
        responses={
            (200, HTML): OpenApiResponse(
                OpenApiTypes.STR,
                description="A self-contained HTML page (no scripts, no external styles): "
                "tenant, number (DRAFT until issued), period, due date, the order lines, the "
                f"month's lines and the totals. It says: “{NO_TAX_SENTENCE}”",
            ),
            **DETAIL_ERRORS,
        },
        summary="An invoice as a printable HTML page",
        description="Open it in a browser signed in to the console, and print.",
    )
)
class InvoicePrintView(InvoiceDocumentView):
    required_scopes = {"GET": ApiKeyScope.FINANCE}
    renderer_classes = [ORJSONRenderer, HTMLMediaType]

    def document(self, invoice: Invoice) -> Iterator[str]:
        return invoice_print_page(invoice)
