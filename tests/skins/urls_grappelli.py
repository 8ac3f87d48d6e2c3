"""The demo's URLs plus grappelli's own (its autocomplete and related lookups)."""

from django.urls import include, path

from project.urls import urlpatterns as demo_urlpatterns

urlpatterns = [path("grappelli/", include("grappelli.urls")), *demo_urlpatterns]
