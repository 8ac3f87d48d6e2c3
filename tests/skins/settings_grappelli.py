"""The demo site under django-grappelli: its app before django.contrib.admin and its URLs
(tests/skins/urls_grappelli.py)."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS, TEMPLATES
from tests.skins.skin import apps_before_site, with_skin_apps

INSTALLED_APPS = with_skin_apps(INSTALLED_APPS, ["grappelli"])
ROOT_URLCONF = "tests.skins.urls_grappelli"
TEMPLATES = apps_before_site(TEMPLATES)
