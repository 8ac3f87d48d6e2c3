from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LocksConfig(AppConfig):
    name = "locks"
    verbose_name = _("Edit locks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from . import checks as lock_checks
        from . import sessions, signals, skew  # noqa: F401  (connect their receivers)
        from .cleanup import connect_receivers
        from .compat import allow_rfc_close_codes

        sessions.connect_session_model()
        allow_rfc_close_codes()  # daphne could not close a flooding socket with 1008

        checks.register(lock_checks.check_settings, "locks")
        checks.register(lock_checks.check_limits, "locks")
        checks.register(lock_checks.check_installed_apps, "locks")
        checks.register(lock_checks.check_channel_layer, "locks")
        checks.register(lock_checks.check_database, "locks")
        checks.register(lock_checks.check_redis_layer, "locks")
        checks.register(lock_checks.check_audit_retention, "locks")
        connect_receivers()  # deleting a record removes its lock row
        skew.arm()  # a server whose clock is off the database's says so at its first request
