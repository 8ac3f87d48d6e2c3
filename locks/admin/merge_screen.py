"""The merge screen: a save from an older version is shown back as theirs / yours per field."""

from __future__ import annotations

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from .. import services
from ..fingerprint import fingerprint
from ..merge import (
    BASE_FIELD,
    CHOICE_PREFIX,
    INLINE_CHOICE_PREFIX,
    merge_fields,
    merge_inlines,
    read_base,
)
from ..versioning import VersionedModel
from ..views import continue_key
from .context import FINGERPRINT_FIELD, LEASE_FIELD, MERGE_FIELD, VERSION_FIELD, LockContext


class MergeScreenMixin:
    """Renders the merge screen; listed after ChangeFormLockMixin, so `super().get_form()`
    is the ModelAdmin's own form, without the lock check."""

    merge_template = "locks/merge.html"

    def render_merge(self, request, context, obj, ctx: LockContext) -> HttpResponse:
        form = context["adminform"].form
        current = type(obj)._base_manager.get(pk=obj.pk)
        form_class = super().get_form(request, current, change=True)
        fields = merge_fields(form_class, current, form, request.POST.get(BASE_FIELD))
        shown = {f.name for f in fields}  # posted again by the merge table itself
        skip = {
            "csrfmiddlewaretoken",
            VERSION_FIELD,
            FINGERPRINT_FIELD,
            LEASE_FIELD,
            MERGE_FIELD,
            BASE_FIELD,
        }
        stored_formsets = self._unbound_formsets(request, current)
        inlines = merge_inlines(
            [inline.formset for inline in context.get("inline_admin_formsets", [])],
            stored_formsets,
            read_base(request.POST.get(BASE_FIELD)),
        )
        versioned = isinstance(current, VersionedModel)
        context.update(
            {
                "title": _("Merge your changes into %(record)s") % {"record": current},
                "subtitle": None,
                "merge_fields": fields,
                "merge_inlines": inlines,
                "current": current,
                "current_version": current.version if versioned else None,
                # The merged save is checked against what this screen shows as theirs.
                "current_fingerprint": ""
                if versioned
                else fingerprint(form_class(instance=current), stored_formsets),
                "based_on_version": ctx.based_on_version,
                "locks": self.lock_template_context(request, current, ctx),
                "hidden_post": [
                    (key, value)
                    for key, values in request.POST.lists()
                    if key not in skip
                    and key not in shown
                    and not key.startswith((CHOICE_PREFIX, INLINE_CHOICE_PREFIX))
                    for value in values
                ],
                "lease": ctx.lease,
                "opts": self.opts,
            }
        )
        # The audit trail (and the contention report) counts refused stale saves.
        services.record_merge_shown(ctx.ref, request.user, ctx.state)
        # "Discard my changes" goes back to the change form: let it keep this tab's lease.
        request.session[continue_key(ctx.ref)] = ctx.lease
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.merge_template, context)

    def _unbound_formsets(self, request, obj) -> list:
        """The inline formsets of `obj` as stored, with the prefixes the change form uses."""
        formsets, prefixes = [], {}
        for formset_class, inline in self.get_formsets_with_inlines(request, obj):
            prefix = formset_class.get_default_prefix()
            prefixes[prefix] = prefixes.get(prefix, 0) + 1
            if prefixes[prefix] != 1 or not prefix:
                prefix = f"{prefix}-{prefixes[prefix]}"
            formsets.append(
                formset_class(instance=obj, prefix=prefix, queryset=inline.get_queryset(request))
            )
        return formsets
