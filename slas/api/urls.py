from django.urls import path

from . import views

urlpatterns = [
    path("api/sla/at-risk", views.AtRiskView.as_view(), name="sla-at-risk"),
    path("api/orders/<path:external_id>", views.OrderDetailView.as_view(), name="order-detail"),
]
