from django.urls import path

from . import views

urlpatterns = [
    path("ingest/events", views.IngestEventView.as_view(), name="ingest-events"),
    path(
        "ingest/shopify",
        views.IngestEventView.as_view(fixed_source="shopify"),
        name="ingest-shopify",
    ),
    path("ingest/wms", views.IngestEventView.as_view(fixed_source="wms"), name="ingest-wms"),
    path(
        "ingest/carrier",
        views.IngestEventView.as_view(fixed_source="carrier"),
        name="ingest-carrier",
    ),
    path("ingest/v2/events/batch", views.IngestBatchView.as_view(), name="ingest-batch"),
    path(
        "webhooks/shopify/<slug:tenant_slug>",
        views.ShopifyWebhookView.as_view(),
        name="webhook-shopify",
    ),
    path(
        "webhooks/standard/<slug:tenant_slug>",
        views.StandardWebhookView.as_view(),
        name="webhook-standard",
    ),
]
