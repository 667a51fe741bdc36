"""URL map: the REST API under /api/, its schema and docs, the admin; the students' web UI at /."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from exercises.api import api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/", include("exercises.api_urls")),
    re_path(r"^api/", api_not_found),  # last of /api/: a JSON 404 for any other /api/ URL
    path("", include("exercises.web_urls")),  # the web UI: sign in, courses, questions
]

# The API's {"detail", "code"} form for Django's own 400 and 500 pages too.
handler400 = "exercises.api.bad_request"
handler500 = "exercises.api.server_error"
