"""The project's URLs plus the baseline of `bench/console.py`: the admin's plain exception
changelist, a stock `ModelAdmin` on a separate `AdminSite` at /plain-admin/.

"Plain" means what Django gives with no customisation beyond naming the columns:
plain model fields, the model's default ordering, no filters, no search, no
annotations, no tenant scoping, no date hierarchy. The rows the page shows are selected
with them (`list_select_related`): the reason code in its column, and the tenant and
order that `OrderException.__str__` names, which Django 5 renders in every row's
action checkbox label ("Select this object for an action - …"). Without them the stock
page runs two queries per row (205 statements for 100 rows), no fair baseline.
"""

from django.contrib import admin
from django.urls import path

from e2a_project.urls import urlpatterns as project_urlpatterns
from exceptions.models import OrderException


class PlainOrderExceptionAdmin(admin.ModelAdmin):
    list_display = ["id", "reason_code", "severity", "status", "first_seen_at", "late_minutes"]
    list_select_related = ["reason_code", "tenant", "order"]


plain_site = admin.AdminSite(name="plain_admin")
plain_site.register(OrderException, PlainOrderExceptionAdmin)

urlpatterns = [path("plain-admin/", plain_site.urls), *project_urlpatterns]
