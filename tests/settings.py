"""Test settings: the demo site's, plus the lock tests' own app and a fast password hasher."""

import os
import tempfile
from pathlib import Path

from project.settings import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A test database in a file, not Django's shared in-memory one: the live channel's
    # threads (the hub's, the database thread, the test's own) then wait for SQLite's locks
    # as they do in production, where the in-memory database's shared-cache table locks fail
    # at once ("database table is locked") and made tests fail now and then.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"locks-tests-{os.getpid()}.sqlite3")
    }

INSTALLED_APPS = [*INSTALLED_APPS, "tests.lockapp"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Object permissions (django-guardian, in the test extra): the live channel must honour a
# ModelAdmin that decides by object permission.
INSTALLED_APPS = [*INSTALLED_APPS, "guardian"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian's anonymous user row is not needed here
