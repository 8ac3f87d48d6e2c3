"""Compose with the admin's own templates instead of replacing them.

Django's admin picks a template per view: the ModelAdmin's own (`change_form_template`
...) or the first of `admin/<app>/<model>/<name>.html`, `admin/<app>/<name>.html`,
`admin/<name>.html`. The lock keeps that choice: its page template (`locks/admin/<name>.html`)
extends whatever Django chose and only adds its blocks (the banner, the change list's data),
so per-model and per-app overrides, a ModelAdmin's own template and admin skins stay in
force. The lock's inputs travel with the form class and its assets with `media`.
"""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.template.response import TemplateResponse

LOCKS_CSS = "locks/locks.css"
LOCKS_JS = "locks/locks.js"


def lock_media(*catalog_urls: str) -> forms.Media:
    """The lock's stylesheet and script, after the JavaScript catalogs its script reads."""
    return forms.Media(
        css={"all": [LOCKS_CSS]},
        js=[*catalog_urls, forms.Script(LOCKS_JS, defer=True)],
    )


def extend_chosen_template(response: HttpResponse, page_template: str) -> HttpResponse:
    """Render an admin TemplateResponse with `page_template`, which extends the template
    Django chose for it (available to it as `locks_extends`)."""
    if not isinstance(response, TemplateResponse) or response.is_rendered:
        return response
    chosen = response.resolve_template(response.template_name)
    if chosen.origin.template_name == page_template:
        return response  # named as the admin's own template: it cannot extend itself
    response.context_data["locks_extends"] = chosen
    response.template_name = page_template
    return response
