"""Record events: saves, creations and deletions of versioned records, after commit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import formats, timezone

from . import clock, events
from .records import ref_for
from .versioning import VersionedModel


def display_values(instance, names: list[str]) -> dict[str, str]:
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


def record_values(instance) -> dict[str, str]:
    """Every field's display value (for a page that missed some saves)."""
    return display_values(
        instance, [f.name for f in instance._meta.concrete_fields if f.name != "version"]
    )


@receiver(post_save, dispatch_uid="locks.record_saved")
def record_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or not isinstance(instance, VersionedModel):
        return
    changed = (
        [f.name for f in instance._meta.concrete_fields if f.name != "version"]
        if created
        else instance.changed_fields()
    )
    ref = ref_for(instance)
    events.publish(
        {
            "type": events.RECORD_CREATED if created else events.RECORD_SAVED,
            "record": events.record_payload(ref),
            "version": instance.version,
            "changed": changed,
            "values": display_values(instance, changed),
            "at": clock.now().isoformat(),
        }
    )
    # The next save of this same instance compares against what was just written.
    instance._locks_loaded = {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


@receiver(post_delete, dispatch_uid="locks.record_deleted")
def record_deleted(sender, instance, **kwargs) -> None:
    if not isinstance(instance, VersionedModel):
        return
    ref = ref_for(instance)
    events.publish(
        {
            "type": events.RECORD_DELETED,
            "record": events.record_payload(ref),
            "at": clock.now().isoformat(),
        }
    )
