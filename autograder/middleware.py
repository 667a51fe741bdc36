"""Project middleware: refuse what Django cannot parse before any view (or DRF) tries to.

A query string with more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields makes the first read of
request.GET raise TooManyFieldsSent. DRF reads it while choosing a renderer, before it can
render an error, so every URL (the API, its docs, the login pages) answered a bare 500. Here it
is parsed up front and refused with a 400 in the API's error form. So is a NUL character in the
query string (%00): PostgreSQL refuses it in a text comparison, and the admin's list filters
passed it to the database (a 500).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import JsonResponse


def refuse_unparseable_query(get_response):
    def middleware(request):
        try:
            query = request.GET  # parse the query string now (QueryDict is built lazily)
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            detail = f"The query string has more than {limit} parameters."
            return JsonResponse({"detail": detail, "code": "too_many_fields"}, status=400)
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in query.lists()):
            detail = "The query string holds a NUL character (%00), which no parameter may contain."
            return JsonResponse({"detail": detail, "code": "bad_query"}, status=400)
        return get_response(request)

    return middleware
