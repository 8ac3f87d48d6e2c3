"""Test models: `Contact`, `Ticket` (with `TicketLine` rows) and `Notice` are versioned;
`Memo`, `Page` and `Board` (with `Card` rows) have no version column."""

from __future__ import annotations

from django.db import models

from locks.versioning import VersionedModel


class Contact(VersionedModel):
    class Status(models.TextChoices):
        PROSPECT = "prospect", "Prospect"
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    name = models.CharField(max_length=120)
    email = models.EmailField(unique=True)
    phone = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROSPECT)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Ticket(VersionedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CONFIRMED = "confirmed", "Confirmed"

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets")
    reference = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.reference


class TicketLine(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="lines")
    product = models.CharField(max_length=120)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product}"


class Memo(models.Model):
    """No version column; its admin excludes a field and has a per-model template."""

    title = models.CharField(max_length=120)
    body = models.TextField(blank=True)
    secret = models.CharField(max_length=50, blank=True)

    def __str__(self) -> str:
        return self.title


class Page(models.Model):
    """No version column; its admin names its own change form template."""

    title = models.CharField(max_length=120)

    def __str__(self) -> str:
        return self.title


class Notice(VersionedModel):
    """Versioned; its admin's lock is advisory (nobody is made read-only)."""

    title = models.CharField(max_length=120)
    body = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.title


class Board(models.Model):
    """No version column, with inline rows (`Card`): the fingerprint covers both."""

    name = models.CharField(max_length=120)

    def __str__(self) -> str:
        return self.name


class Card(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="cards")
    text = models.CharField(max_length=200)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.text


class ShownNoteManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(archived=False)


class Note(VersionedModel):
    """Versioned; its default manager hides archived notes (a soft delete), so its admin,
    which overrides nothing, stops showing a note once a save archives it."""

    title = models.CharField(max_length=120)
    archived = models.BooleanField(default=False)

    objects = ShownNoteManager()
    every = models.Manager()

    def __str__(self) -> str:
        return self.title
