from django.urls import path

from . import inventory_views, views

urlpatterns = [
    path(
        "api/billing/storage",
        inventory_views.StorageSnapshotView.as_view(),
        name="billing-storage",
    ),
    path(
        "api/billing/receipts",
        inventory_views.InboundReceiptView.as_view(),
        name="billing-receipts",
    ),
    path("api/billing/leaks", views.RevenueLeakListView.as_view(), name="billing-leaks"),
    path("api/invoices", views.InvoiceListView.as_view(), name="invoice-list"),
    path("api/invoices/<int:invoice_id>", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path(
        "api/invoices/<int:invoice_id>/export.csv",
        views.InvoiceExportView.as_view(),
        name="invoice-export",
    ),
    path(
        "api/invoices/<int:invoice_id>/print",
        views.InvoicePrintView.as_view(),
        name="invoice-print",
    ),
]
