from django.urls import path

from . import ingest_views, webhook_views

urlpatterns = [
    path("ingest/events", ingest_views.IngestEventView.as_view(), name="ingest-events"),
    path(
        "ingest/shopify",
        ingest_views.IngestEventView.as_view(fixed_source="shopify"),
        name="ingest-shopify",
    ),
    path("ingest/wms", ingest_views.IngestEventView.as_view(fixed_source="wms"), name="ingest-wms"),
    path(
        "ingest/carrier",
        ingest_views.IngestEventView.as_view(fixed_source="carrier"),
        name="ingest-carrier",
    ),
    path("ingest/v2/events/batch", ingest_views.IngestBatchView.as_view(), name="ingest-batch"),
    path(
        "webhooks/shopify/<slug:tenant_slug>",
        webhook_views.ShopifyWebhookView.as_view(),
        name="webhook-shopify",
    ),
    path(
        "webhooks/standard/<slug:tenant_slug>",
        webhook_views.StandardWebhookView.as_view(),
        name="webhook-standard",
    ),
]
