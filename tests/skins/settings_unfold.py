"""The demo site under django-unfold: its app before django.contrib.admin, and the demo's
admins rebuilt on unfold's ModelAdmin (tests/skins/unfold_demo/admin.py)."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS, TEMPLATES
from tests.skins.skin import apps_before_site, with_skin_apps

INSTALLED_APPS = [*with_skin_apps(INSTALLED_APPS, ["unfold"]), "tests.skins.unfold_demo"]
UNFOLD = {"SITE_TITLE": "Edit locks demo", "SITE_HEADER": "Edit locks demo"}
TEMPLATES = apps_before_site(TEMPLATES)
