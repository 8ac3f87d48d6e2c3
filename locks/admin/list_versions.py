"""`list_editable` keeps the version guard: each row posts what it was loaded as.

Every row of an editable change list carries a signed hidden input (`form-N-_locks_row`,
rendered by locks/admin/change_list.html) with the row's version and the values its inputs
showed. When the list is posted, a row that someone else saved since (its version moved):
- is left alone, silently, if this user did not change it (the browser posts every row);
- is refused, with a message naming the record and the values that were not saved, if
  this user changed it. Nothing of it is written.
The other rows of the same post are saved, whatever a stale row's own errors (a page whose
script lost one of its inputs, say). The write itself is the conditional UPDATE of
`VersionedModel.save`, so a save racing this one is refused too.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core import signing
from django.forms.utils import ErrorDict
from django.http import HttpRequest
from django.utils.translation import gettext as _

from ..merge import _normalise, display

ROW_FIELD = "_locks_row"
_SALT = "locks.list.row"


class RowTokenField(forms.CharField):
    """What the row was loaded as: never an edit of the record."""

    widget = forms.HiddenInput

    def has_changed(self, initial: Any, data: Any) -> bool:
        return False


def row_form(
    form_class: type[forms.ModelForm], editable: list[str], versioned: bool = True
) -> type[forms.ModelForm]:
    """The change list's row form, carrying the row's version and values as loaded. Rows of
    a model without a version column count as moved when their editable values did."""

    class LoadedRowForm(form_class):
        stale = False  # someone else saved the row since the list was loaded
        edited: list[str] = []  # the inputs this user changed, of a stale row

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.fields[ROW_FIELD] = RowTokenField(required=False, initial=self._loaded_as())

        def _shown(self, bound: bool) -> dict[str, Any]:
            values = {}
            for name in editable:
                field = self[name]
                values[name] = _normalise(
                    field.data if bound else field.field.prepare_value(field.initial)
                )
            return values

        def _loaded_as(self) -> str:
            if self.instance.pk is None:
                return ""
            version = self.instance.version if versioned else None
            return signing.dumps({"v": version, "values": self._shown(bound=False)}, salt=_SALT)

        def locks_row_input(self):
            """The hidden input, for the template (names starting with _ are not reachable)."""
            return self[ROW_FIELD]

        def full_clean(self) -> None:
            super().full_clean()
            if self.is_bound and self._moved():
                # Not saved either way: its own errors (an input the page lost, say) must
                # not hold up the other rows of the post.
                self.stale = True
                self._errors = ErrorDict()

        def _moved(self) -> bool:
            """True when someone else saved the row since the list was loaded (or the post
            does not say what the row was loaded as); `edited` names what this user changed
            in it (inputs the post left out count as untouched)."""
            if self.instance.pk is None:
                return False
            try:
                loaded = signing.loads(self.data.get(self.add_prefix(ROW_FIELD), ""), salt=_SALT)
            except signing.BadSignature:
                loaded = None
            if loaded is not None and (
                loaded.get("v") == self.instance.version
                if versioned
                else loaded.get("values") == self._shown(bound=False)
            ):
                return False
            posted, before = self._shown(bound=True), (loaded or {}).get("values", {})
            self.edited = [
                name
                for name in editable
                if posted[name] != before.get(name)
                and not self.fields[name].widget.value_omitted_from_data(
                    self.data, self.files, self.add_prefix(name)
                )
            ]
            return True

        def has_changed(self) -> bool:
            # Django's change list saves changed rows only: a stale row is not saved.
            return not self.stale and super().has_changed()

    return LoadedRowForm


def refuse_stale_row(request: HttpRequest, form: forms.ModelForm) -> None:
    shown = {name: display(form.fields[name], _normalise(form[name].data)) for name in form.edited}
    changes = ", ".join(
        f"{form.fields[name].label or name}: “{value}”" for name, value in shown.items()
    )
    messages.error(
        request,
        _(
            "“%(record)s” was not saved: someone else saved it after you loaded this list. "
            "Your change (%(changes)s) was left out; the list now shows their values. Enter "
            "it again if it still applies."
        )
        % {"record": form.instance, "changes": changes},
    )
