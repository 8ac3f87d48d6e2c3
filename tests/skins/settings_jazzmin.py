"""The demo site under django-jazzmin: one app before django.contrib.admin, nothing else."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS
from tests.skins.skin import with_skin_apps

INSTALLED_APPS = with_skin_apps(INSTALLED_APPS, ["jazzmin"])
