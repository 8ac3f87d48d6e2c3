"""Name each read-only value on a locked change form, so the page can show a saved value in
place under any admin skin.

Skins lay out a field's row their own way (Django's `.field-<name>`, grappelli's
`.grp-row.<name>`, unfold's rows carry no name), but every one renders a read-only field by
iterating the admin form (fieldsets, lines, fields) and printing the field's `contents()`.
The wrappers here pass everything through and only put that value in
`<span data-locks-field="<input name>">`: the name the field's input would have (`notes`,
`lines-0-quantity` in an inline), so names of the record and of its inline rows never clash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html
from django.utils.safestring import SafeString

MARKER = "data-locks-field"


class _Passthrough:
    """Everything of the wrapped admin helper, but its iteration."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class _MarkedField(_Passthrough):
    def __init__(self, wrapped: Any, input_name: str) -> None:
        super().__init__(wrapped)
        self._input_name = input_name

    def contents(self) -> SafeString:
        return format_html(
            '<span {}="{}">{}</span>', MARKER, self._input_name, self._wrapped.contents()
        )


class _MarkedLine(_Passthrough):
    def __iter__(self) -> Iterator[Any]:
        for field in self._wrapped:
            name = model_field_name(field)
            yield field if name is None else _MarkedField(field, field.form.add_prefix(name))


class _MarkedFieldset(_Passthrough):
    def __iter__(self) -> Iterator[Any]:
        return map(_MarkedLine, self._wrapped)


class _MarkedForm(_Passthrough):
    """An AdminForm or an inline's InlineAdminForm: its fieldsets."""

    def __iter__(self) -> Iterator[Any]:
        return map(_MarkedFieldset, self._wrapped)


class _MarkedInlineFormSet(_Passthrough):
    def __iter__(self) -> Iterator[Any]:
        return map(_MarkedForm, self._wrapped)


def model_field_name(field: Any) -> str | None:
    """The record's field that a read-only admin field shows (the values a save sends are the
    record's fields), or None: an input, a callable, a property, a many-to-many field."""
    name = field.field.get("field") if getattr(field, "is_readonly", False) else None
    if not isinstance(name, str):
        return None
    try:
        model_field = field.form._meta.model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return name if model_field.concrete else None


def mark_readonly_values(adminform: Any) -> Any:
    """The change form's AdminForm, its read-only values marked with their field's name."""
    return _MarkedForm(adminform)


def mark_inline_values(inline_admin_formsets: Iterable[Any]) -> list[Any]:
    """The inlines' InlineAdminFormSets, their read-only values marked likewise."""
    return [_MarkedInlineFormSet(formset) for formset in inline_admin_formsets]
