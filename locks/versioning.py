"""The version guard: a save based on an older version is refused.

A lock is an optimisation for people; the version is the guarantee for data. Every save of
a versioned record bumps its number with a conditional UPDATE, in the same transaction as the
save, so two saves from the same version can never both pass.
"""

from __future__ import annotations

from typing import Any

from django.db import models, router, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _


class StaleVersionError(Exception):
    """The record changed since the version the save was based on."""

    def __init__(self, instance: models.Model, based_on: int) -> None:
        super().__init__(
            f"{type(instance).__name__} {instance.pk} changed since version {based_on}."
        )
        self.instance = instance
        self.based_on = based_on


class VersionedModel(models.Model):
    """Abstract base: adds `version` and refuses saves from an older version."""

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding or self.pk is None:
            return super().save(*args, **kwargs)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            bumped = (
                type(self)
                ._base_manager.using(using)
                .filter(pk=self.pk, version=self.version)
                .update(version=F("version") + 1)
            )
            if not bumped:
                raise StaleVersionError(self, self.version)
            self.version += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version"}
            super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values, *args, **kwargs):
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        # What the record looked like when read: the change events name what differs.
        instance._locks_loaded = dict(zip(field_names, values, strict=False))
        return instance

    def changed_fields(self) -> list[str]:
        """Names of concrete fields that differ from what was read from the database."""
        loaded = getattr(self, "_locks_loaded", None)
        if loaded is None:
            return []
        return [
            f.name
            for f in self._meta.concrete_fields
            if f.attname in loaded
            and f.name != "version"
            and loaded[f.attname] != getattr(self, f.attname)
        ]


def current_version(model: type[models.Model], pk: Any) -> int | None:
    return model._base_manager.filter(pk=pk).values_list("version", flat=True).first()
