from django.apps import AppConfig


class LockAppConfig(AppConfig):
    name = "tests.lockapp"
    label = "lockapp"
    default_auto_field = "django.db.models.BigAutoField"
