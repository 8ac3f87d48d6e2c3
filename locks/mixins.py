"""LockedAdminMixin: pessimistic edit locks for any ModelAdmin (placeholder)."""


class LockedAdminMixin:
    pass
