"""URL map: the REST API under /api/, its schema and docs, the admin; the students' web UI at /."""

from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from exercises.api import api_not_found
from exercises.sign_in_limits import LimitedLoginView

# The browsable API's login and logout (rest_framework.urls, same names and namespace), its
# login limited as every other sign-in is.
browsable_api_auth = [
    path("login/", LimitedLoginView.as_view(template_name="rest_framework/login.html"), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include((browsable_api_auth, "rest_framework"))),
    path("api/", include("exercises.api_urls")),
    re_path(r"^api/", api_not_found),  # last of /api/: a JSON 404 for any other /api/ URL
    path("", include("exercises.web_urls")),  # the web UI: sign in, courses, questions
]

# The API's {"detail", "code"} form for Django's own 400 and 500 pages too.
handler400 = "exercises.api.bad_request"
handler500 = "exercises.api.server_error"
