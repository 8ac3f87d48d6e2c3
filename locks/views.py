"""Small POST-only (and one GET) endpoints behind the change form: heartbeat, release, state,
take over, ask to edit and decline a request. They work with and without JavaScript: JSON
for fetch(), a redirect back to the change form for a plain form POST.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import authority, services
from .inlines import inline_rows
from .records import ref_for
from .values import record_values

MAX_REASON = 500


def reclaim_cookie(ref) -> str:
    """Cookie a page sets for a few seconds as it starts to unload (beforeunload, before the
    next request goes out), so a reload of the same tab takes its lease back."""
    return f"locks_reclaim_{ref.key}"


def continue_key(ref) -> str:
    """Session key handing a lease to the next change-form GET of this user (the same tab
    after "Save and continue editing" or "Take over")."""
    return f"locks:continue:{ref.key}"


def wants_json(request: HttpRequest) -> bool:
    return (
        "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "fetch"
    )


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)


def _record(model_admin, request: HttpRequest, object_id: str, *, change: bool):
    """The object, or an error response: unknown objects and missing permissions say so."""
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        return None, error(404, _("No such record."))
    allowed = (
        model_admin.has_change_permission(request, obj)
        if change
        else model_admin.has_view_permission(request, obj)
    )
    if not allowed:
        return None, error(403, _("You may not do that with this record."))
    return obj, None


def payload(model_admin, request: HttpRequest, obj, state, lease: str | None) -> dict[str, Any]:
    policy = model_admin.lock_policy(state, request, lease)  # knows the lock mode
    data = policy.get_context()
    data.pop("state")
    return {
        **data,
        "lock": state.as_public_dict(),
        "version": getattr(obj, "version", None) if obj is not None else None,
    }


@require_POST
def heartbeat(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    obj, failed = _record(model_admin, request, object_id, change=True)
    if failed:
        return failed
    lease = request.POST.get("lease", "")
    active = request.POST.get("active") == "1"
    unsaved = {"1": True, "0": False}.get(request.POST.get("unsaved", ""))  # else: keep it
    outcome = services.heartbeat(obj, request.user, lease, active, unsaved)
    body = payload(model_admin, request, obj, outcome.state, lease if outcome.ok else None)
    body["ok"] = outcome.ok  # "version" comes from the object just read: no second query
    return JsonResponse(body)


@require_POST
def release(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    obj, failed = _record(model_admin, request, object_id, change=False)
    if failed:
        return failed
    outcome = services.release(obj, request.user, request.POST.get("lease", ""))
    if wants_json(request) or request.POST.get("beacon") == "1":
        return JsonResponse({"ok": outcome.ok})
    return back(model_admin, request, obj)


@require_GET
def state(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    obj, failed = _record(model_admin, request, object_id, change=False)
    if failed:
        return failed
    body = payload(model_admin, request, obj, services.get_state(obj), request.GET.get("lease"))
    body["ok"] = True
    if body["version"] is not None and request.GET.get("version") != str(body["version"]):
        # The page shows an older version: send the values its change form shows (the
        # polling twin of "sync").
        given = authority.grant(model_admin, request, obj)
        body["values"] = authority.only_visible(record_values(obj), given.fields)
        body["inlines"] = authority.shape_inlines(inline_rows(model_admin, obj), given)
    return JsonResponse(body)


@require_POST
def take_over(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    obj, failed = _record(model_admin, request, object_id, change=True)
    if failed:
        return failed
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    try:
        if request.POST.get("if_free") == "1":
            # "Edit now" / "Edit when free": take the record only if nobody holds it.
            outcome = services.acquire(obj, request.user)
        else:
            outcome = services.take_over(
                obj, request.user, reason, lease=request.POST.get("lease") or None
            )
    except PermissionDenied:
        if wants_json(request):
            return error(403, _("Only lock managers may take over another user's lock."))
        messages.error(request, _("Only lock managers may take over another user's lock."))
        return back(model_admin, request, obj)
    if outcome.ok:
        # The change form's next GET picks this lease up (as after "Save and continue").
        request.session[continue_key(ref_for(obj))] = outcome.lease
    if wants_json(request):
        return JsonResponse({"ok": outcome.ok, "detail": outcome.detail})
    if not outcome.ok:
        messages.error(request, _("Someone else took the lock first. Try again."))
    return back(model_admin, request, obj)


@require_POST
def request_handover(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    obj, failed = _record(model_admin, request, object_id, change=True)
    if failed:
        return failed
    message = request.POST.get("message", "").strip()[:MAX_REASON]
    outcome = services.request_handover(obj, request.user, message)
    if wants_json(request):
        reply = {"ok": outcome.ok, "detail": outcome.detail}
        if outcome.message:
            reply["message"] = outcome.message
        return JsonResponse(reply)
    if outcome.ok:
        messages.success(
            request,
            _("%(holder)s has been asked to hand this record over.")
            % {"holder": outcome.state.holder_name},
        )
    elif outcome.message:
        messages.warning(request, outcome.message)
    else:
        messages.info(request, _("Nobody else is editing this record now."))
    return back(model_admin, request, obj)


@require_POST
def decline_handover(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """The holder keeps the record; whoever asked for it is told (with the reason given)."""
    obj, failed = _record(model_admin, request, object_id, change=True)
    if failed:
        return failed
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    outcome = services.decline_handover(obj, request.user, request.POST.get("lease", ""), reason)
    if wants_json(request):
        return JsonResponse({"ok": outcome.ok, "detail": outcome.detail})
    if outcome.ok:
        messages.success(request, _("You declined the request; you are still editing."))
    elif outcome.detail == "not-requested":
        messages.info(request, _("Nobody is asking to edit this record now."))
    else:
        messages.error(request, _("You no longer hold the lock of this record."))
    return back(model_admin, request, obj)


@require_GET
def list_states(request: HttpRequest, model_admin) -> HttpResponse:
    """Lock badges for a change list page: ?pk=1&pk=2 (at most 500)."""
    if not model_admin.has_view_permission(request):
        return error(403, _("You may not view these records."))
    # Only rows this user's admin shows (its queryset and object permissions).
    pks = list(authority.visible_objects(model_admin, request, request.GET.getlist("pk")[:500]))
    states = model_admin.lock_states(pks)  # a scoped admin's rows show their parents' locks
    return JsonResponse(
        {
            "ok": True,
            "locks": {pk: s.as_public_dict() for pk, s in states.items()},
        }
    )


def back(model_admin, request: HttpRequest, obj) -> HttpResponseRedirect:
    opts = model_admin.opts
    return HttpResponseRedirect(
        reverse(
            f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
            args=[obj.pk],
        )
    )
