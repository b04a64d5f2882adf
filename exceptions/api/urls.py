from django.urls import path

from . import views

ACTIONS = {
    "acknowledge": views.AcknowledgeView,
    "start": views.StartView,
    "assign": views.AssignView,
    "snooze": views.SnoozeView,
    "resolve": views.ResolveView,
    "reopen": views.ReopenView,
    "close": views.CloseView,
    "reanalyze": views.ReanalyzeView,
    "approve-action": views.ApproveActionView,
    "reject-action": views.RejectActionView,
}

urlpatterns = [
    path("api/exceptions", views.ExceptionListView.as_view(), name="exception-list"),
    path("api/exceptions/stats", views.ExceptionStatsView.as_view(), name="exception-stats"),
    path(
        "api/exceptions/<int:exception_id>",
        views.ExceptionDetailView.as_view(),
        name="exception-detail",
    ),
    *(
        path(
            f"api/exceptions/<int:exception_id>/{action}",
            view.as_view(),
            name=f"exception-{action}",
        )
        for action, view in ACTIONS.items()
    ),
]
