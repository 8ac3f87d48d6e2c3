"""How the lock code names a record: content type and primary key as text."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db import models


class RecordRef(NamedTuple):
    content_type_id: int
    object_pk: str
    object_repr: str = ""

    @property
    def key(self) -> str:
        """A short ASCII name for this record, safe in channel group names and HTML ids."""
        digest = hashlib.blake2s(self.object_pk.encode(), digest_size=8).hexdigest()
        return f"{self.content_type_id}.{digest}"

    def same_record(self, other: RecordRef) -> bool:
        return (self.content_type_id, self.object_pk) == (other.content_type_id, other.object_pk)


def ref_for(obj: models.Model | RecordRef) -> RecordRef:
    """The reference of a model instance (or the reference itself)."""
    if isinstance(obj, RecordRef):
        return obj
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    return RecordRef(ct.pk, str(obj.pk), str(obj)[:200])


def ref_for_pk(model: type[models.Model], pk: object, object_repr: str = "") -> RecordRef:
    ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
    return RecordRef(ct.pk, str(pk), object_repr)
