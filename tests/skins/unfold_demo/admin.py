"""The demo's locked admins on django-unfold's ModelAdmin, as a team using unfold writes them.

Unfold's templates need its own `unfold.admin.ModelAdmin` (and inline classes) as a base, so a
project under unfold declares `class CustomerAdmin(LockedAdminMixin, unfold.admin.ModelAdmin)`.
Rather than copy the demo's options, each demo admin is extended with unfold's base:
`class CustomerAdmin(records.admin.CustomerAdmin, unfold.admin.ModelAdmin)` has exactly that
order (LockedAdminMixin, then unfold's ModelAdmin, then Django's) and the demo's fields,
filters and inlines. The demo's records/admin.py stays as it is: the admin's autodiscovery
imports this module after it (this app comes after "records" in INSTALLED_APPS), before any
URL is built from the registry.
"""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from locks.admin import LockedAdminMixin

INLINE_BASES = {admin.TabularInline: TabularInline, admin.StackedInline: StackedInline}


def on_unfold(inline: type[admin.options.InlineModelAdmin]) -> type:
    """The inline class with unfold's matching inline as a further base."""
    base = next(unfold for django, unfold in INLINE_BASES.items() if issubclass(inline, django))
    return type(inline.__name__, (inline, base), {"__module__": __name__})


def reregister_on_unfold(site: admin.AdminSite) -> list[type]:
    """Re-register every locked admin of `site` on unfold's ModelAdmin; returns the new classes."""
    rebuilt = []
    for model, model_admin in list(site._registry.items()):
        cls = type(model_admin)
        if not isinstance(model_admin, LockedAdminMixin) or isinstance(model_admin, ModelAdmin):
            continue
        attrs = {"__module__": __name__, "inlines": [on_unfold(i) for i in cls.inlines]}
        skinned = type(cls.__name__, (cls, ModelAdmin), attrs)
        site.unregister(model)
        site.register(model, skinned)
        rebuilt.append(skinned)
    return rebuilt


REBUILT = reregister_on_unfold(admin.site)
