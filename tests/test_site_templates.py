"""The demo site's own templates (templates/ at the top): admin branding and error pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import include, path, reverse

SECRET = "detail-that-must-not-leak"


def forbidden(request):
    raise PermissionDenied(SECRET)


def missing(request):
    raise Http404(SECRET)


def broken(request):
    raise RuntimeError(SECRET)


urlpatterns = [
    path("forbidden/", forbidden),
    path("missing/", missing),
    path("broken/", broken),
    path("", include("project.urls")),
]


def test_admin_pages_name_the_demo(client):
    page = client.get(reverse("admin:login")).content.decode()
    assert "| Edit locks demo</title>" in page
    assert "Edit locks demo: customers and orders" in page
    assert "Django administration" not in page


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("url", "status", "heading"),
    [
        ("/forbidden/", 403, "You may not open this page"),
        ("/missing/", 404, "Page not found"),
        ("/no/such/page/", 404, "Page not found"),
        ("/broken/", 500, "Something went wrong on the server"),
    ],
)
def test_error_pages_show_no_details_without_debug(client, settings, url, status, heading):
    settings.DEBUG = False
    client.raise_request_exception = False
    response = client.get(url)
    assert response.status_code == status
    page = response.content.decode()
    assert heading in page
    assert "Edit locks demo" in page
    for leak in (SECRET, "Traceback", "urlpatterns", "RuntimeError", "/no/such/page/"):
        assert leak not in page


@pytest.mark.django_db
def test_a_staff_user_without_permission_gets_the_403_page(client, settings, customer):
    from tests.conftest import make_user

    settings.DEBUG = False
    client.force_login(make_user("dave"))
    response = client.get(reverse("admin:records_customer_change", args=[customer.pk]))
    assert response.status_code == 403
    assert "You may not open this page" in response.content.decode()
