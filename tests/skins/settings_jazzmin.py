"""The demo site under django-jazzmin: one app before django.contrib.admin, nothing else."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS, TEMPLATES
from tests.skins.skin import apps_before_site, with_skin_apps

INSTALLED_APPS = with_skin_apps(INSTALLED_APPS, ["jazzmin"])
TEMPLATES = apps_before_site(TEMPLATES)
