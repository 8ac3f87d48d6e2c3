"""The app as a Django team adopts it: the built wheel in a fresh `django-admin startproject`,
set up only by the blocks of docs/install.md (parsed from the page, so the page cannot rot).

The wheel is installed with --no-deps into a directory that comes first on the PYTHONPATH of
every subprocess, which runs outside the checkout: `import locks` resolves to the wheel, and
Django, Channels and daphne come from the current environment.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.live import start_daphne, stop_processes

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "install.md"
TIMEOUT = 120
PIP = [sys.executable, "-m", "pip"]

BOOKS_MODELS = """\
from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)

    def __str__(self):
        return self.title


class Author(models.Model):
    name = models.CharField(max_length=200)

    def __str__(self):
        return self.name
"""

# A team's own change form for one model: the lock must keep working with it.
AUTHOR_ADMIN = """

from .models import Author


@admin.register(Author)
class AuthorAdmin(LockedAdminMixin, admin.ModelAdmin):
    change_form_template = "books/author_change_form.html"
"""
AUTHOR_TEMPLATE = """{% extends "admin/change_form.html" %}
{% block after_field_sets %}{{ block.super }}
<p class="our-note">Check the spelling.</p>{% endblock %}
"""

USERS = """
from django.contrib.auth.models import Permission, User
from books.models import Author, Book

perms = Permission.objects.filter(content_type__app_label="books")
for name in ("alice", "bob"):
    user = User.objects.create_user(name, password="pw-" + name, is_staff=True)
    user.user_permissions.set(perms)
Book.objects.create(title="Dune")
Author.objects.create(name="Frank Herbert")
"""

# Runs inside the new project (DJANGO_SETTINGS_MODULE=mysite.settings) and prints what a
# user would see, as JSON.
SCENARIO = r"""
import json, re, sys

import django

django.setup()
from django.test import Client
from django.urls import reverse

import locks
from books.models import Author, Book


def hidden(html):
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def logged_in(name):
    client = Client(HTTP_HOST="localhost")  # startproject's DEBUG settings allow localhost
    assert client.login(username=name, password="pw-" + name)
    return client


def message(html):
    found = re.search(r'<p class="locks-message">(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


facts = {"locks_file": locks.__file__}
alice, bob = logged_in("alice"), logged_in("bob")
if sys.argv[1] == "book":
    url = reverse("admin:books_book_change", args=[Book.objects.get().pk])
    mine, theirs = alice.get(url).content.decode(), bob.get(url).content.decode()
    bob_post = bob.post(url, {**hidden(theirs), "title": "Bob's Dune", "_save": "Save"})
    title_after_bob = Book.objects.get().title
    saved = alice.post(url, {**hidden(mine), "title": "Dune Messiah", "_save": "Save"})
    facts.update(
        alice_can_save='name="_save"' in mine,
        bob_can_save='name="_save"' in theirs,
        bob_told=message(theirs),
        ws_urls=re.findall(r'data-ws-url="([^"]*)"', mine + theirs),
        bob_post=bob_post.status_code,
        title_after_bob=title_after_bob,
        alice_post=saved.status_code,
        title=Book.objects.get().title,
    )
else:
    url = reverse("admin:books_author_change", args=[Author.objects.get().pk])
    page = alice.get(url).content.decode()
    saved = alice.post(url, {**hidden(page), "name": "F. Herbert", "_save": "Save"})
    facts.update(
        own_template='class="our-note"' in page,
        alice_post=saved.status_code,
        name=Author.objects.get().name,
    )
print(json.dumps(facts))
"""


# ---------------------------------------------------------------- the page's blocks


def doc_blocks(start: str, end: str | None = None) -> list[tuple[str, str]]:
    """(language, code) of each fenced block of docs/install.md between two headings."""
    text = DOC.read_text()
    text = text.split(start, 1)[1]
    if end:
        text = text.split(end, 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def apply_block(project: Path, language: str, code: str, env: dict[str, str]) -> None:
    """Do what a reader does with a block: edit the file it names, or run the command."""
    if language == "python":
        first = code.splitlines()[0]
        target, _, how = first.removeprefix("# ").partition(": ")
        path = project / target
        if how == "add at the end":
            path.write_text(path.read_text() + "\n" + code)
        else:
            assert not how, f"unknown instruction in {first!r}"
            path.write_text(code)
        return
    assert language == "sh", language
    for line in code.strip().splitlines():
        if line.startswith("pip install "):
            continue  # the wheel (no-deps) and the current environment stand in for pip
        assert line.startswith("python manage.py "), f"docs/install.md runs {line!r}"
        run([sys.executable, *line.split()[1:]], project, env)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


# ---------------------------------------------------------------- the project


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (the checkout stays untouched)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "locks", source / "locks", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    subprocess.run(
        [
            *PIP,
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    (built,) = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def env(wheel, tmp_path_factory) -> dict[str, str]:
    """Subprocess environment: the installed wheel first on the path, nothing of ours set."""
    target = tmp_path_factory.mktemp("site-packages")
    subprocess.run(
        [*PIP, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    drop = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "PYTHONPATH", "DEBUG"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    return {**clean, "PYTHONPATH": str(target), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def project(env, tmp_path_factory) -> Path:
    """startproject + one app with one model, then docs/install.md steps 1-3."""
    project = tmp_path_factory.mktemp("team") / "mysite"
    project.mkdir()
    run([sys.executable, "-m", "django", "startproject", "mysite", str(project)], project, env)
    run([sys.executable, "manage.py", "startapp", "books"], project, env)
    (project / "books" / "models.py").write_text(BOOKS_MODELS)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS += ["books"]\n')
    run([sys.executable, "manage.py", "makemigrations", "books"], project, env)

    blocks = doc_blocks("## Install", "## Live updates")
    assert [lang for lang, _ in blocks] == ["sh", "python", "python", "sh"]
    for language, code in blocks:
        apply_block(project, language, code, env)

    admin_py = project / "books" / "admin.py"
    admin_py.write_text(admin_py.read_text() + AUTHOR_ADMIN)
    templates = project / "books" / "templates" / "books"
    templates.mkdir(parents=True)
    (templates / "author_change_form.html").write_text(AUTHOR_TEMPLATE)
    run([sys.executable, "manage.py", "shell", "-c", USERS], project, env)
    (project / "scenario.py").write_text(SCENARIO)
    return project


def scenario(project: Path, env: dict[str, str], which: str) -> dict:
    env = {**env, "DJANGO_SETTINGS_MODULE": "mysite.settings"}
    facts = json.loads(run([sys.executable, "scenario.py", which], project, env).splitlines()[-1])
    assert Path(facts["locks_file"]).is_relative_to(Path(env["PYTHONPATH"]))  # the wheel's
    return facts


# ---------------------------------------------------------------- the tests


def test_the_wheel_holds_only_locks_and_needs_only_django_and_channels(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_string(archive.read(metadata).decode())
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"locks"}
    for shipped in (
        "locks/templates/locks/admin/change_form.html",
        "locks/static/locks/locks.js",
        "locks/migrations/0001_initial.py",
        "locks/management/commands/release_stale_locks.py",
    ):
        assert shipped in names
    required = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert sorted(re.match(r"[\w.-]+", r).group(0).lower() for r in required) == [
        "channels",
        "django",
    ]
    extras = meta.get_all("Provides-Extra")
    assert "redis" in extras and "demo" in extras


def test_locks_on_wsgi_from_the_install_guide(project, env):
    """Alice opens the change form first; Bob's is read-only and his save is refused; pages
    poll (no socket address); Alice's save goes through; `manage.py check` is clean."""
    facts = scenario(project, env, "book")
    assert facts["alice_can_save"]
    assert not facts["bob_can_save"]
    assert "alice" in facts["bob_told"]
    assert facts["ws_urls"] == ["", ""]
    assert facts["bob_post"] != 302  # shown again with the refusal, not saved
    assert facts["title_after_bob"] == "Dune"
    assert facts["alice_post"] == 302
    assert facts["title"] == "Dune Messiah"
    output = run([sys.executable, "manage.py", "check"], project, env)
    assert "System check identified no issues" in output


def test_a_model_admin_with_its_own_change_form_template_still_saves(project, env):
    facts = scenario(project, env, "author")
    assert facts["own_template"]
    assert facts["alice_post"] == 302
    assert facts["name"] == "F. Herbert"


def login(base: str, username: str) -> str:
    """Log in through the admin's login form like a browser; the session cookie's value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": f"pw-{username}", "csrfmiddlewaretoken": token}
    form["next"] = "/admin/"
    request = urllib.request.Request(
        f"{base}/admin/login/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{base}/admin/login/"},
    )
    opener.open(request, timeout=30).read()
    return next(c.value for c in jar if c.name == "sessionid")


def test_live_updates_on_asgi_from_the_install_guide(project, env, tmp_path):
    """Steps 4-5 on a copy of the project: daphne serves the page with a socket address and
    the socket says welcome; the Redis layer block passes `manage.py check` too."""
    pytest.importorskip("daphne")
    websockets_client = pytest.importorskip("websockets.sync.client")
    live = tmp_path / "mysite"
    shutil.copytree(project, live)
    blocks = doc_blocks("## Live updates", "Several server processes")
    assert [lang for lang, _ in blocks] == ["sh", "python", "python", "python"]
    for language, code in blocks:
        apply_block(live, language, code, env)
    assert "no issues" in run([sys.executable, "manage.py", "check"], live, env)

    server, base = start_daphne("mysite.asgi:application", live, env, tmp_path)
    try:
        session = login(base, "bob")
        request = urllib.request.Request(
            f"{base}/admin/books/book/1/change/", headers={"Cookie": f"sessionid={session}"}
        )
        page = urllib.request.urlopen(request, timeout=30).read().decode()
        assert 'data-ws-url="/ws/locks/"' in page
        with websockets_client.connect(
            base.replace("http://", "ws://") + "/ws/locks/",
            additional_headers={"Cookie": f"sessionid={session}", "Origin": base},
            open_timeout=30,
        ) as socket:
            welcome = json.loads(socket.recv(timeout=30))
        assert welcome["type"] == "welcome"
        assert welcome["user"]["name"] == "bob"
    finally:
        stop_processes([server])

    redis_blocks = doc_blocks("Several server processes", "## How pages know")
    assert [lang for lang, _ in redis_blocks] == ["sh", "python"]
    pytest.importorskip("channels_redis")
    for language, code in redis_blocks:
        apply_block(live, language, code, env)
    assert "no issues" in run([sys.executable, "manage.py", "check"], live, env)
