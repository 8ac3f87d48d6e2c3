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


def check_lock_scope(model_admin) -> list[checks.CheckMessage]:
    """`lock_parent` must name a foreign key to a model whose admin (on the same site) is
    locked: the page's lock endpoints are the parent admin's."""
    from django.core.exceptions import FieldDoesNotExist

    from .mixin import LockedAdminMixin

    name = getattr(model_admin, "lock_parent", None)
    if not name or not isinstance(model_admin, LockedAdminMixin):
        return []
    cls = type(model_admin)
    try:
        field = model_admin.model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if field is None or not field.many_to_one:
        return [
            checks.Error(
                f"{cls.__module__}.{cls.__name__}.lock_parent = {name!r} is not a foreign key "
                f"of {model_admin.model._meta.label}, so its records have no parent lock.",
                hint="Name the ForeignKey to the record edited with these rows as its inlines.",
                obj=cls,
                id="locks.E040",
            )
        ]
    parent_admin = model_admin.admin_site._registry.get(field.related_model)
    if not isinstance(parent_admin, LockedAdminMixin):
        return [
            checks.Error(
                f"{cls.__module__}.{cls.__name__}.lock_parent = {name!r}: "
                f"{field.related_model._meta.label} is not registered with a locked admin on "
                f"the same site, so nobody could hold its lock.",
                hint="Register the parent's ModelAdmin with LockedAdminMixin.",
                obj=cls,
                id="locks.E041",
            )
        ]
    return []


def check_lock_mode(model_admin) -> list[checks.CheckMessage]:
    """A misspelt `lock_mode` would lock pessimistically without saying so."""
    from ..policy import ADVISORY, PESSIMISTIC

    mode = getattr(model_admin, "lock_mode", PESSIMISTIC)
    if mode in (ADVISORY, PESSIMISTIC):
        return []
    cls = type(model_admin)
    return [
        checks.Error(
            f"{cls.__module__}.{cls.__name__}.lock_mode = {mode!r} is not a lock mode.",
            hint=f"Use {PESSIMISTIC!r} (the default) or {ADVISORY!r}.",
            obj=cls,
            id="locks.E042",
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
                errors.extend(check_lock_scope(model_admin))
                errors.extend(check_lock_mode(model_admin))
    return errors
