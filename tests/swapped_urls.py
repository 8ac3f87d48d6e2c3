"""URLs built after a test swapped a ModelAdmin on the default site (reloaded per test)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
