"""Several server processes sharing Redis: events cross processes, and socket storms (a
server restart: 1,000 pages reconnecting at once, then leaving at once) leave no errors and
no dead subscriptions."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import resource
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import expect

from tests.conftest import require_redis
from tests.live import LiveSite

pytestmark = pytest.mark.redis

STORM = 1000


def isolated_redis_url(url: str) -> str:
    """Database 15, so these servers never share groups with other test runs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/15"))


@pytest.fixture(scope="module")
def redis_site(tmp_path_factory):
    redis_url = isolated_redis_url(require_redis())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    site = LiveSite(
        tmp_path_factory.mktemp("redis-site"),
        extra_env={"REDIS_URL": redis_url, "LOCKS_TIMEOUT": "6", "LOCKS_HEARTBEAT_INTERVAL": "2"},
    )
    site.prepare()
    site.urls = [site.start_server(), site.start_server()]
    site.redis_url = redis_url
    yield site
    site.stop()


def session_cookie(base: str, username: str) -> str:
    return logged_in(base, username)[1]


def logged_in(base: str, username: str) -> tuple[urllib.request.OpenerDirector, str]:
    """A cookie-keeping HTTP client logged in as `username`, and its session id."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": "demo", "next": "/admin/"}
    ).encode()
    opener.open(
        urllib.request.Request(
            f"{base}/admin/login/", data=data, headers={"Referer": f"{base}/admin/login/"}
        )
    )
    return opener, next(c.value for c in jar if c.name == "sessionid")


@pytest.mark.browser
def test_save_on_one_process_reaches_page_on_another(browser, redis_site):
    pk = redis_site.scalar("SELECT id FROM records_customer ORDER BY id LIMIT 1 OFFSET 30")
    pages = {}
    for name, base in zip(["alice", "bob"], redis_site.urls, strict=True):
        context = browser.new_context()
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", name)
        page.fill("#id_password", "demo")
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        page.goto(f"{base}/admin/records/customer/{pk}/change/")
        pages[name] = page
    alice, bob = pages["alice"], pages["bob"]
    bob.wait_for_function(
        "window.locksPage && window.locksPage.live && window.locksPage.live.subscribed"
    )
    expect(bob.locator("#locks-banner")).to_contain_text("Alice Archer is editing")
    alice.fill("#id_phone", "+49 30 5656565")
    alice.click("input[name=_save]")
    expect(bob.locator(".form-row.field-phone .readonly")).to_have_text(
        "+49 30 5656565", timeout=1000
    )
    expect(bob.locator("#locks-banner")).to_contain_text("The record is free now", timeout=1000)
    for page in pages.values():
        page.context.close()


def test_storm_of_connections_and_disconnections(redis_site):
    import redis

    base = redis_site.urls[0]
    cookie = session_cookie(base, "bob")
    ct = redis_site.scalar(
        "SELECT id FROM django_content_type WHERE app_label = 'records' AND model = 'customer'"
    )
    pk = redis_site.scalar("SELECT id FROM records_customer ORDER BY id LIMIT 1 OFFSET 31")
    ws_url = base.replace("http://", "ws://") + "/ws/locks/"
    headers = {"Origin": base, "Cookie": f"sessionid={cookie}"}

    errors = in_thread(storm(ws_url, headers, {"ct": ct, "pk": str(pk)}))
    log = "".join(p.read_text() for p in redis_site.workdir.glob("daphne-*.log"))
    assert errors == [], f"{len(errors)} of {STORM} pages failed: {errors[:3]}\n{log[-2000:]}"

    store = redis.Redis.from_url(redis_site.redis_url)

    def members() -> int:
        return sum(store.zcard(key) for key in store.scan_iter("asgi:group:locks.record.*"))

    deadline = time.monotonic() + 20
    while members() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert members() == 0, "dead subscriptions left behind in Redis"
    log = "".join(p.read_text() for p in redis_site.workdir.glob("daphne-*.log"))
    assert "MaxConnectionsError" not in log
    assert "Traceback" not in log, log[-3000:]
    # The server still serves a new page afterwards.
    assert in_thread(storm(ws_url, headers, {"ct": ct, "pk": str(pk)}, count=1)) == []


def test_logout_on_one_process_closes_the_socket_on_another(redis_site):
    """The socket lives on the second server; the logout is handled by the first."""
    first, second = redis_site.urls
    opener, cookie = logged_in(first, "bob")
    page = opener.open(f"{first}/admin/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    async def scenario() -> tuple[int | None, float]:
        import websockets

        async with websockets.connect(
            second.replace("http://", "ws://") + "/ws/locks/",
            additional_headers={"Origin": second, "Cookie": f"sessionid={cookie}"},
        ) as socket:
            assert json.loads(await socket.recv())["type"] == "welcome"
            loop = asyncio.get_running_loop()
            logout = urllib.request.Request(
                f"{first}/admin/logout/",
                data=urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode(),
                headers={"Referer": f"{first}/admin/"},
            )
            await loop.run_in_executor(None, opener.open, logout)
            started = time.monotonic()
            try:
                while True:
                    await asyncio.wait_for(socket.recv(), 5)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code, time.monotonic() - started

    code, took = in_thread(scenario())
    assert code == 4401
    assert took < 1


def in_thread(coroutine):
    """Run `coroutine` on its own event loop (Playwright's sync API owns this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def storm(ws_url: str, headers: dict, record: dict, count: int = STORM) -> list:
    """`count` pages connect and subscribe at once, then all leave at once."""
    import websockets

    errors: list = []
    settled = 0
    everyone_in, leave = asyncio.Event(), asyncio.Event()

    def arrived() -> None:
        nonlocal settled
        settled += 1
        if settled == count:
            everyone_in.set()

    async def page() -> None:
        try:
            async with websockets.connect(
                ws_url, additional_headers=headers, open_timeout=60
            ) as socket:
                assert json.loads(await socket.recv())["type"] == "welcome"
                await socket.send(
                    json.dumps({"type": "subscribe", "record": record, "presence": True})
                )
                # Frames the server pushes meanwhile (a page answers a resync or digest
                # with a sync; a loaded CI can make a hub's canary late, and it then tells
                # every page to resync) come before the reply.
                pushed = ("presence", "resync", "digest")
                while (reply := json.loads(await socket.recv()))["type"] in pushed:
                    pass
                assert reply["type"] == "subscribed", reply
                arrived()
                await leave.wait()
        except Exception as problem:  # collected and reported by the test
            errors.append(repr(problem))
            arrived()

    tasks = [asyncio.create_task(page()) for _ in range(count)]
    await asyncio.wait_for(everyone_in.wait(), 120)
    leave.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return errors
