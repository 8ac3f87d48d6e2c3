"""The lock endpoints of one locked ModelAdmin, under its own admin URLs."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.urls import path, reverse
from django.views.i18n import JavaScriptCatalog

from .. import views


class LockUrlsMixin:
    """Adds heartbeat, release, state, take-over, hand-over request and decline, the change
    list's states and the JavaScript catalog to the ModelAdmin's URLs, each behind
    `admin_view`."""

    def get_urls(self):
        def wrap(view):
            @wraps(view)
            def wrapper(request, *args, **kwargs):
                return view(request, self, *args, **kwargs)

            return self.admin_site.admin_view(wrapper)

        prefix = self._lock_prefix
        ours = [
            path(f"<path:object_id>/lock/{slug}/", wrap(view), name=f"{prefix}_{name}")
            for slug, name, view in [
                ("heartbeat", "heartbeat", views.heartbeat),
                ("release", "release", views.release),
                ("state", "state", views.state),
                ("take-over", "take_over", views.take_over),
                ("request", "request", views.request_handover),
                ("decline", "decline", views.decline_handover),
            ]
        ]
        ours.append(path("lock/states/", wrap(views.list_states), name=f"{prefix}_states"))
        ours.append(
            path(
                "lock/jsi18n/",
                JavaScriptCatalog.as_view(packages=["locks"]),
                name=f"{prefix}_jsi18n",
            )
        )
        return ours + super().get_urls()

    @property
    def _lock_prefix(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_lock"

    def lock_url(self, name: str, object_id: Any) -> str:
        return reverse(f"{self.admin_site.name}:{self._lock_prefix}_{name}", args=[object_id])
