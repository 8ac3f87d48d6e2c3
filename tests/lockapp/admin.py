from django.contrib import admin

from locks.admin import LockedAdminMixin

from .models import Board, Card, Contact, Memo, Note, Notice, Page, Ticket, TicketLine


@admin.register(Contact)
class ContactAdmin(LockedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "email", "status"]
    fields = ["name", "email", "phone", "status", "notes"]


class TicketLineInline(admin.TabularInline):
    model = TicketLine
    extra = 1
    fields = ["product", "quantity", "unit_price"]


@admin.register(Ticket)
class TicketAdmin(LockedAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "contact", "status"]
    fields = ["reference", "contact", "status", "notes"]
    inlines = [TicketLineInline]


@admin.register(TicketLine)
class TicketLineAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Scoped to its ticket: the ticket's lock covers the line on its own page too."""

    lock_parent = "ticket"
    list_display = ["product", "ticket", "quantity"]
    list_editable = ["quantity"]
    fields = ["ticket", "product", "quantity", "unit_price"]


@admin.register(Memo)
class MemoAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Fields from the model minus `exclude`; admin/lockapp/memo/change_form.html overrides
    its change form and admin/lockapp/change_list.html the app's change lists."""

    exclude = ["secret"]


@admin.register(Page)
class PageAdmin(LockedAdminMixin, admin.ModelAdmin):
    fieldsets = [("Page", {"fields": ["title"]})]
    change_form_template = "lockapp/page_change_form.html"
    delete_confirmation_template = "lockapp/page_delete_confirmation.html"


@admin.register(Notice)
class NoticeAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Warn-only: everyone may edit; the version guard and merge screen protect the data."""

    lock_mode = "advisory"
    fields = ["title", "body"]
    list_display = ["title"]


class CardInline(admin.TabularInline):
    model = Card
    extra = 0


@admin.register(Board)
class BoardAdmin(LockedAdminMixin, admin.ModelAdmin):
    inlines = [CardInline]


@admin.register(Note)
class NoteAdmin(LockedAdminMixin, admin.ModelAdmin):
    fields = ["title", "archived"]
