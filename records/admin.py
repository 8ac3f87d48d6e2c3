from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import User
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from locks.admin import LockedAdminMixin

from .models import Customer, Order, OrderLine


@admin.register(Customer)
class CustomerAdmin(LockedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "email", "phone", "status", "order_count", "updated_at"]
    list_editable = ["phone", "status"]  # kept by the version guard: a stale row is refused
    list_filter = ["status"]
    search_fields = ["name", "email", "phone"]
    fields = ["name", "email", "phone", "status", "notes"]
    # get_queryset adds a column and filters nothing, for anyone: saves reach live pages
    # without asking it again (docs/protocol.md, "When grants are asked again").
    lock_queryset_by_user = True

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_order_count=Count("orders"))

    @admin.display(description=_("orders"), ordering="_order_count")
    def order_count(self, obj: Customer) -> int:
        return obj._order_count


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 1
    fields = ["product", "quantity", "unit_price"]


@admin.register(Order)
class OrderAdmin(LockedAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "customer", "status", "updated_at"]
    list_filter = ["status"]
    search_fields = ["reference", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    fields = ["reference", "customer", "status", "notes"]
    inlines = [OrderLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Lines are edited as inlines of their order, so the order's lock covers them here too."""

    lock_parent = "order"
    list_display = ["product", "order", "quantity", "unit_price"]
    list_select_related = ["order"]
    fields = ["order", "product", "quantity", "unit_price"]
    autocomplete_fields = ["order"]


# Users have no version column: the lock and the fingerprint guard them (docs/locks.md).
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(LockedAdminMixin, auth_admin.UserAdmin):
    pass
