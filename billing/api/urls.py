from django.urls import path

from . import views

urlpatterns = [
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
