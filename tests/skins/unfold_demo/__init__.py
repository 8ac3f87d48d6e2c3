"""The demo's admins on django-unfold's ModelAdmin (see admin.py), found by the admin's
autodiscovery after records/admin.py: list this app after "records" in INSTALLED_APPS."""
