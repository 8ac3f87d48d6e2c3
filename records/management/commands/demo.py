"""Load the demo: users, permissions, customers and orders. Safe to run again."""

from __future__ import annotations

import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from records.models import Customer, Order, OrderLine

PASSWORD = "demo"
USERS = [
    # username, full name, group, superuser
    ("alice", "Alice Archer", "Editors", False),
    ("bob", "Bob Brown", "Editors", False),
    ("carol", "Carol Clark", "Lock managers", False),
    ("admin", "Ada Admin", None, True),
]
EDITOR_PERMS = [
    f"records.{action}_{model}"
    for model in ("customer", "order", "orderline")
    for action in ("view", "add", "change", "delete")
]
MANAGER_PERMS = [*EDITOR_PERMS, "locks.manage_locks", "locks.view_editlock", "locks.view_lockevent"]

FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "Dev",
    "Eva",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Mara",
    "Nils",
    "Olga",
    "Pavel",
]
LAST = [
    "Schmidt",
    "Okafor",
    "Nguyen",
    "García",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Dubois",
    "Larsen",
    "Haddad",
]
PRODUCTS = [
    ("Desk lamp", "39.90"),
    ("Office chair", "189.00"),
    ("Notebook A5", "4.50"),
    ('Monitor 27"', "279.00"),
    ("USB-C cable", "12.90"),
    ("Standing desk", "549.00"),
    ("Keyboard", "89.00"),
    ("Headset", "119.00"),
]
CUSTOMERS = 60
ORDERS = 240
# The address the README Quickstart gives `runserver`; `--addrport` when you serve elsewhere.
QUICKSTART_ADDRPORT = "127.0.0.1:8000"


def admin_url(addrport: str) -> str:
    """The admin's address on a server started as `runserver ADDRPORT` (port alone: 127.0.0.1)."""
    host, _, port = addrport.rpartition(":")
    return f"http://{host or '127.0.0.1'}:{port}{reverse('admin:index')}"


class Command(BaseCommand):
    help = "Create the demo users (password 'demo'), permissions, customers and orders. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--addrport",
            default=QUICKSTART_ADDRPORT,
            help="The address you give `runserver` (or daphne's -b/-p); the printed admin "
            f"address is built from it. Default: {QUICKSTART_ADDRPORT}, as in the README.",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        groups = {
            "Editors": self._group("Editors", EDITOR_PERMS),
            "Lock managers": self._group("Lock managers", MANAGER_PERMS),
        }
        User = get_user_model()
        for username, full_name, group, superuser in USERS:
            first, last = full_name.split(" ", 1)
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.com"
            user.is_staff = True
            user.is_superuser = superuser
            user.set_password(PASSWORD)
            user.save()
            user.groups.set([groups[group]] if group else [])

        rng = random.Random(42)
        customers = []
        for i in range(CUSTOMERS):
            name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"
            customer, _ = Customer.objects.get_or_create(
                email=f"customer{i + 1:03d}@example.com",
                defaults={
                    "name": name,
                    "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
                    "status": rng.choice(Customer.Status.values),
                },
            )
            customers.append(customer)
        for i in range(ORDERS):
            order, created = Order.objects.get_or_create(
                reference=f"ORD-{i + 1:05d}",
                defaults={
                    "customer": customers[i % len(customers)],
                    "status": rng.choice(Order.Status.values),
                },
            )
            if created:
                OrderLine.objects.bulk_create(
                    OrderLine(
                        order=order,
                        product=product,
                        quantity=rng.randint(1, 5),
                        unit_price=Decimal(price),
                    )
                    for product, price in rng.sample(PRODUCTS, rng.randint(1, 3))
                )

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {Customer.objects.count()} customers, {Order.objects.count()} orders."
            )
        )
        addrport = options["addrport"]
        self.stdout.write(
            f"Serve it with `python manage.py runserver {addrport}`, open "
            f"{admin_url(addrport)} and log in with password '{PASSWORD}' as:"
        )
        self.stdout.write("  alice, bob  editors")
        self.stdout.write("  carol       lock manager (may take over and release others' locks)")
        self.stdout.write("  admin       superuser")

    def _group(self, name: str, perms: list[str]) -> Group:
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
        return group
