"""Field values as the admin shows them, for event payloads and state replies."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import models
from django.utils import formats, timezone


def display_values(instance: models.Model, names: list[str]) -> dict[str, str]:
    """Values as the admin shows them: choice labels, related names, localized dates."""
    values = {}
    for name in names:
        display = getattr(instance, f"get_{name}_display", None)
        value = display() if callable(display) else getattr(instance, name)
        if isinstance(value, datetime):
            value = formats.localize(
                timezone.localtime(value) if timezone.is_aware(value) else value
            )
        elif isinstance(value, (date, Decimal)):
            value = formats.localize(value)
        values[name] = "" if value is None else str(value)
    return values


def record_values(instance: models.Model) -> dict[str, str]:
    """Every field's display value (for a page that missed some saves)."""
    return display_values(
        instance, [f.name for f in instance._meta.concrete_fields if f.name != "version"]
    )
