"""Record events: saves, creations and deletions of versioned records, after commit."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from . import clock, events, inlines
from .records import ref_for
from .values import display_values
from .versioning import VersionedModel


@receiver(post_save, dispatch_uid="locks.record_saved")
def record_saved(
    sender, instance, created: bool, raw: bool = False, using: str | None = None, **kwargs
) -> None:
    if raw:
        return
    inlines.row_changed(instance, using)  # an inline row of a locked parent: tell its viewers
    if not isinstance(instance, VersionedModel):
        return
    changed = (
        [f.name for f in instance._meta.concrete_fields if f.name != "version"]
        if created
        else instance.changed_fields()
    )
    ref = ref_for(instance)
    inlines.publish_record(
        instance,
        {
            "type": events.RECORD_CREATED if created else events.RECORD_SAVED,
            "record": events.record_payload(ref),
            "version": instance.version,
            "changed": changed,
            "values": display_values(instance, changed),
            "at": clock.now().isoformat(),
        },
        using,
    )
    # The next save of this same instance compares against what was just written.
    instance._locks_loaded = {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


@receiver(post_delete, dispatch_uid="locks.record_deleted")
def record_deleted(sender, instance, using: str | None = None, **kwargs) -> None:
    inlines.row_changed(instance, using)
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


# ---------------------------------------------------------------- users' rights changed


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


@receiver(post_save, dispatch_uid="locks.user_saved")
def user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if created or sender is not _user_model():
        return
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login saves the user; nothing about its rights changed
    events.publish_user_changed([instance.pk])


@receiver(m2m_changed, dispatch_uid="locks.rights_changed")
def rights_changed(sender, instance, action: str, reverse: bool, model, pk_set, **kwargs) -> None:
    """Groups or permissions of users changed (either side of the relation)."""
    from django.contrib.auth.models import Group

    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    user_model = _user_model()
    if sender in {user_model.groups.through, user_model.user_permissions.through}:
        if isinstance(instance, user_model):
            events.publish_user_changed([instance.pk])
        elif pk_set:
            events.publish_user_changed(sorted(pk_set))
    elif sender is Group.permissions.through:
        groups = [instance.pk] if isinstance(instance, Group) else sorted(pk_set or ())
        ids = user_model._default_manager.filter(groups__in=groups).values_list("pk", flat=True)
        events.publish_user_changed(sorted(set(ids)))
