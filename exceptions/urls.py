from django.urls import include, path

urlpatterns = [
    path("", include("exceptions.api.urls")),
    path("", include("exceptions.notify.urls")),
]
