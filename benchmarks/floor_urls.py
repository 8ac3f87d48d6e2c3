"""A plain Django admin for the demo's customers (no locking mixin): the floor's save."""

from django.contrib import admin
from django.urls import path

from records.models import Customer

site = admin.AdminSite(name="floor")


class PlainCustomerAdmin(admin.ModelAdmin):
    fields = ["name", "email", "phone", "status", "notes"]  # as records.admin shows them


site.register(Customer, PlainCustomerAdmin)
urlpatterns = [path("admin/", site.urls)]
