"""Admin checks: configurations that would silently disable locking are refused."""

from __future__ import annotations

from django.contrib import admin
from django.core import checks


def check_mixin_order(model_admin) -> list[checks.CheckMessage]:
    """LockedAdminMixin after ModelAdmin in the bases: ModelAdmin's methods win, so no lock
    is ever taken or checked, and nothing else says so."""
    from .mixin import LockedAdminMixin

    cls = type(model_admin)
    mro = cls.__mro__
    if LockedAdminMixin not in mro or mro.index(LockedAdminMixin) < mro.index(admin.ModelAdmin):
        return []
    name = cls.__name__
    return [
        checks.Error(
            f"{cls.__module__}.{name} lists LockedAdminMixin after ModelAdmin, so "
            "ModelAdmin's methods run instead of the mixin's and its change forms are not "
            "locked.",
            hint=f"List the mixin first: class {name}(LockedAdminMixin, admin.ModelAdmin).",
            obj=cls,
            id="locks.E010",
        )
    ]


@checks.register(checks.Tags.admin)
def check_locked_admins(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every ModelAdmin registered on any admin site that uses LockedAdminMixin."""
    from django.contrib.admin.sites import all_sites

    errors = []
    for site in all_sites:
        for model, model_admin in site._registry.items():
            if app_configs is None or model._meta.app_config in app_configs:
                errors.extend(check_mixin_order(model_admin))
    return errors
