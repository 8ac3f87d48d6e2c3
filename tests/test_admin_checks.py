"""Admin checks refuse configurations that would silently disable locking, and name the fix."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Group
from django.core import checks
from django.core.management import call_command

from locks.admin import LockedAdminMixin


def lock_errors() -> list[checks.CheckMessage]:
    return [e for e in checks.run_checks(tags=[checks.Tags.admin]) if e.id.startswith("locks.")]


def test_mixin_after_model_admin_is_refused_with_the_fix():
    class GroupAdmin(admin.ModelAdmin, LockedAdminMixin):  # the mixin comes too late
        pass

    site = admin.AdminSite(name="misordered")
    site.register(Group, GroupAdmin)
    try:
        errors = lock_errors()
    finally:
        site.unregister(Group)
    assert [e.id for e in errors] == ["locks.E010"]
    assert errors[0].obj is GroupAdmin
    assert "not locked" in errors[0].msg
    assert "class GroupAdmin(LockedAdminMixin, admin.ModelAdmin)" in errors[0].hint


def test_mixin_first_passes():
    class GroupAdmin(LockedAdminMixin, admin.ModelAdmin):
        pass

    site = admin.AdminSite(name="ordered")
    site.register(Group, GroupAdmin)
    try:
        assert lock_errors() == []
    finally:
        site.unregister(Group)


def test_manage_py_check_is_clean_for_the_registered_admins(capsys):
    call_command("check", "--fail-level", "ERROR")
    assert "locks.E0" not in capsys.readouterr().err
