"""The per-process hub: one channel-layer subscription per topic per process, fanned out to
that process's sockets in memory.

Stock Channels gives every socket its own channel and group membership: a server restart
costs 1,000 `group_add` calls at once (channels-redis runs out of pool connections), and each
event wakes 1,000 consumers that each decode and re-encode it. Here a topic costs one
`group_add` per process, an event one message per process, and the JSON is encoded once.

The hub also runs the expiry sweeper (so viewers learn that a holder's tab died without anyone
acting, with one query per timeout period, not per lock) and coalesces presence (at most one
update per record per second, however many pages join, leave or start and stop editing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from . import authority, sequences, services, sharing
from .authority import Grant, Grants
from .conf import lock_settings
from .events import RECORD_CREATED, RECORD_PREFIX, RECORD_SAVED, USER_PREFIX
from .records import RecordRef
from .sequences import Sequence
from .trips import hub_sync_to_async, hub_thread_idle

logger = logging.getLogger("locks.hub")

CANARY_SECONDS = 0.5  # how often the hub checks that its group memberships still exist
YIELD_EVERY = 100  # sockets sent to between two turns of the event loop in a fan-out
CANARY_LOST_AFTER = 1.5  # seconds without its own canary back: memberships are gone
PRESENCE_FLUSH_SECONDS = 1.0
PRESENCE_REFRESH_SECONDS = 30.0
PRESENCE_STALE_SECONDS = 90.0
GROUP_REFRESH_SECONDS = 3600.0  # channels-redis forgets group members after a day
PRESENCE_NAMES = 50
HANDED_KEPT = 10_000  # own events remembered until the layer's copy comes back


class Subscriber(Protocol):
    user: Any
    user_pk: Any  # the user's primary key, read without going through the model

    async def deliver(self, text: str) -> None: ...

    def grant_for(self, topic: str) -> Grant | None: ...

    async def recheck(self) -> None: ...

    async def revoke(self, topic: str) -> None: ...

    async def session_ended(self, fingerprints: list[str]) -> None: ...


Viewer = tuple[int, str, bool, bool]
"""One page on a record's presence list: user id, name, editing, unsaved changes."""


def merge_viewers(entries: Iterable[Viewer | list[Any]]) -> list[list[Any]]:
    """One entry per user, `[id, name, editing, unsaved]`: editing if any of their pages
    edits, unsaved if any of those has unsaved changes. Editors first (a presence frame names
    at most PRESENCE_NAMES users, and editors must not be the ones left out), then by id."""
    users: dict[int, list[Any]] = {}
    for user_id, name, editing, unsaved in entries:
        unsaved = editing and unsaved
        known = users.get(user_id)
        if known is None:
            users[user_id] = [user_id, name, editing, unsaved]
        else:  # a renamed user's pages may disagree on the name: keep one, the same everywhere
            known[1] = min(known[1], name)
            known[2] = known[2] or editing
            known[3] = known[3] or unsaved
    return sorted(users.values(), key=lambda user: (not user[2], user[0]))


def as_part(viewers: list[list[Any]]) -> dict[str, Any]:
    """A process's viewers as its `locks.presence` message carries them: `viewers` as
    `[id, name]` pairs (what every version reads) and `editors` as `[id, unsaved]`."""
    return {
        "viewers": [[user_id, name] for user_id, name, _, _ in viewers],
        "editors": [[user_id, unsaved] for user_id, _, editing, unsaved in viewers if editing],
    }


def from_part(message: dict[str, Any]) -> list[list[Any]]:
    """The viewers of another process's `locks.presence` message (one of an older version,
    without `editors`, names nobody as editing)."""
    editors = {user_id: unsaved is True for user_id, unsaved in message.get("editors", [])}
    return [
        [user_id, name, user_id in editors, editors.get(user_id, False)]
        for user_id, name in message["viewers"]
    ]


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.process_id = uuid.uuid4().hex[:12]
        self.channel: str | None = None
        self.topics: dict[str, set[Subscriber]] = defaultdict(set)
        # presence: topic -> subscriber -> what its page says, and parts from every process
        self.viewers: dict[str, dict[Subscriber, Viewer]] = defaultdict(dict)
        self.parts: dict[str, dict[str, tuple[list[list[Any]], float]]] = defaultdict(dict)
        self.local_dirty: set[str] = set()
        self.merged_dirty: set[str] = set()
        self.last_presence: dict[str, str] = {}
        self.presence_told: dict[str, set[Subscriber]] = {}
        self.tasks: list[asyncio.Task] = []
        self.membership = asyncio.Lock()
        # Healing: the hub's own canary group proves its memberships are in the layer.
        self.canary_group = f"locks.hub.{self.process_id}"
        self.canary_seen = time.monotonic()
        self.healthy = True
        # Gap detection: each record topic's record, and the (fence, holder, version) this
        # process last delivered for it; the digest compares it with the database.
        self.records: dict[str, RecordRef] = {}
        self.seen: dict[str, Sequence] = {}
        # This process's own events, handed over before the layer brought them back.
        self.handed: dict[tuple[Any, Any], bool] = {}
        self.own_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        # Events dispatched per topic: a subscription that read the state meanwhile re-reads.
        self.delivered: dict[str, int] = defaultdict(int)
        # Each topic's sockets grouped by grant, kept while no membership and no grant of
        # this process changed (`membership_changes`, `Grants.changes`): grouping 5,000
        # sockets took 9 to 15 ms before a save's first page.
        self.membership_changes = 0
        self.grouped: dict[str, tuple[tuple[int, int], dict[Grant, list[Subscriber]]]] = {}

    async def start(self) -> None:
        # The layer's default prefix: channels-redis reads one prefix per process, and a
        # second prefix would starve (or be starved by) any other consumer in the process.
        self.loop = asyncio.get_running_loop()
        self.channel = await self.layer.new_channel()
        loops = (self._read, self._presence, self._sweep, self._refresh_groups, self._canary)
        for loop in (*loops, self._digest, self._read_own):
            self.tasks.append(asyncio.create_task(loop(), name=f"locks-hub-{loop.__name__}"))

    async def stop(self) -> None:
        """Cancel the hub's loops and wait until its thread is idle: a cancelled trip's
        query still runs there, and must not outlive the hub (a test's database flush, a
        shutdown closing connections)."""
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub_thread_idle()

    # ------------------------------------------------------------ subscriptions

    async def subscribe(
        self, subscriber: Subscriber, topic: str, record: RecordRef | None = None
    ) -> None:
        async with self.membership:
            if not self.topics.get(topic):
                # Join first: if the layer fails, nothing is recorded and the next
                # subscriber tries again.
                await self.layer.group_add(topic, self.channel)
            self.topics[topic].add(subscriber)
            self.membership_changes += 1
            if record is not None:
                self.records[topic] = record

    async def unsubscribe(self, subscriber: Subscriber, topic: str) -> None:
        async with self.membership:
            members = self.topics.get(topic)
            if members is None:
                return
            members.discard(subscriber)
            self.membership_changes += 1
            # The grouping kept for the next event names the socket: not kept alive by it.
            self.grouped.pop(topic, None)
            self.presence_told.get(topic, set()).discard(subscriber)
            if self.viewers.get(topic, {}).pop(subscriber, None) is not None:
                self.local_dirty.add(topic)
            if not members:
                del self.topics[topic]
                if topic.startswith(USER_PREFIX):
                    # No more announcements for this user reach this process.
                    sharing.forget(topic.removeprefix(USER_PREFIX))
                self.records.pop(topic, None)
                self.seen.pop(topic, None)
                self.delivered.pop(topic, None)
                await self.layer.group_discard(topic, self.channel)

    def join_presence(self, subscriber: Subscriber, topic: str, user_id: int, name: str) -> None:
        """Put the socket on the record's presence list (joining again keeps what it said)."""
        known = self.viewers[topic].get(subscriber)
        self.viewers[topic][subscriber] = (user_id, name, *(known[2:] if known else (False, False)))
        self.local_dirty.add(topic)

    def is_viewer(self, subscriber: Subscriber, topic: str) -> bool:
        return subscriber in self.viewers.get(topic, {})

    def set_editing(self, subscriber: Subscriber, topic: str, editing: bool, unsaved: bool) -> bool:
        """What the socket's page says: editing, with unsaved changes. False if the socket is
        not on the record's presence list (it left meanwhile); changes reach the pages with
        the next presence flush."""
        known = self.viewers.get(topic, {}).get(subscriber)
        if known is None:
            return False
        said = (known[0], known[1], editing, editing and unsaved)
        if said != known:
            self.viewers[topic][subscriber] = said
            self.local_dirty.add(topic)
        return True

    def seed(self, topic: str, sequence: Sequence) -> None:
        """Where a record stood when a socket's subscription read it, for a topic this
        process has delivered nothing on yet (its digest then compares from there)."""
        if topic in self.topics and topic not in self.seen:
            self.seen[topic] = sequence

    def events_delivered(self, topic: str) -> int:
        """How many events this process has dispatched on `topic` (a change counter)."""
        return self.delivered.get(topic, 0)

    def subscriber_count(self) -> int:
        return len({s for members in self.topics.values() for s in members})

    # ------------------------------------------------------------ delivery

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as problem:
                # The layer went away (its memberships may be gone with it): the canary loop
                # joins again as soon as it answers.
                if self.healthy:
                    logger.warning("Hub could not read from the channel layer (%r)", problem)
                self.healthy = False
                await asyncio.sleep(CANARY_SECONDS)
                continue
            if self.handed.pop((message.get("id"), message.get("topic")), None):
                continue  # this process's own event, delivered already (hand_over)
            await self._dispatch_safely(message)

    async def _dispatch_safely(self, message: dict[str, Any]) -> None:
        try:
            await self.dispatch(message)
        except Exception:
            # Never silently: logged with the event, and that topic's pages resync.
            logger.exception("Hub could not dispatch %s", message)
            members = list(self.topics.get(message.get("topic", ""), ()))
            await self._send_all(members, json.dumps({"type": "resync"}))

    def hand_over(self, messages: list[dict[str, Any]]) -> None:
        """Events published by this process (a save in one of its request threads): its own
        pages get them at once, not after a round trip through the channel layer (and while
        the layer is away, too). The copy the layer brings back is then skipped. Runs on the
        hub's event loop (`events.deliver` schedules it)."""
        for message in messages:
            key = (message.get("id"), message.get("topic"))
            if key[0] is None or not self.topics.get(key[1]):
                continue  # nobody here: the layer's copy (if any) is dispatched as usual
            self.handed[key] = True
            while len(self.handed) > HANDED_KEPT:
                self.handed.pop(next(iter(self.handed)))
            self.own_events.put_nowait(message)

    async def _read_own(self) -> None:
        """This process's own events, one after another in the order they were published (a
        "Save" announces the record, then the released lock), as `_read` does the layer's."""
        while True:
            await self._dispatch_safely(await self.own_events.get())

    async def dispatch(self, message: dict[str, Any]) -> None:
        topic = message.get("topic", "")
        if message.get("type") == "locks.canary":
            self.canary_seen = time.monotonic()
            if not self.healthy:
                self.healthy = True
                logger.warning("Channel layer answers again; group memberships restored")
                await self._resync_everyone()
            return
        if message.get("type") == "locks.presence":
            if message.get("process") != self.process_id:  # our own part counts already
                self.parts[topic][message["process"]] = (from_part(message), time.monotonic())
                self.merged_dirty.add(topic)
            return
        if message.get("type") == "locks.user":
            sharing.forget(topic.removeprefix(USER_PREFIX))
        members = self.topics.get(topic)
        if not members:
            return
        if message.get("type") == "locks.user":
            # A user's permissions or account changed: their sockets check again.
            await asyncio.gather(*(member.recheck() for member in list(members)))
            return
        if message.get("type") == "locks.session":
            # Sessions of a user ended (logout, deleted): their sockets close.
            ended = message.get("sessions", [])
            await asyncio.gather(*(member.session_ended(ended) for member in list(members)))
            return
        await self.deliver_event(topic, message["event"])

    def by_grant(self, topic: str) -> dict[Grant, list[Subscriber]]:
        """All of the topic's sockets grouped by grant: kept from the last event while no
        socket of this process joined or left a topic and no grant changed, else grouped
        again."""
        key = (self.membership_changes, Grants.changes)
        kept = self.grouped.get(topic)
        if kept is not None and kept[0] == key:
            return kept[1]
        groups: dict[Grant, list[Subscriber]] = defaultdict(list)
        for member in self.topics.get(topic, ()):
            given = member.grant_for(topic)
            if given is not None:
                groups[given].append(member)
        kept_groups = dict(groups)
        self.grouped[topic] = (key, kept_groups)
        return kept_groups

    async def deliver_event(self, topic: str, event: dict[str, Any]) -> None:
        """Shape the event once per distinct grant (the fields those sockets' users may see)
        and encode it once per shape: the fan-out stays one loop over the sockets."""
        self._saw(topic, event)
        self.delivered[topic] += 1
        groups = self.by_grant(topic)
        audiences: dict[Grant, list[Subscriber]] = {}
        ask_again: list[Subscriber] = []
        changed_row = event.get("type") in (RECORD_SAVED, RECORD_CREATED)
        for given, sockets in groups.items():
            if changed_row and given.dynamic:
                ask_again.extend(sockets)
            else:
                audiences[given] = sockets
        # Sockets whose grant stands hear it first; the row-sensitive ones after their
        # ModelAdmin was asked again (a trip to the database thread).
        await self._send_shaped(event, audiences)
        if ask_again:
            again: dict[Grant, list[Subscriber]] = defaultdict(list)
            await self._regrant(topic, ask_again, event, again)
            await self._send_shaped(event, again)

    async def _send_shaped(
        self, event: dict[str, Any], audiences: dict[Grant, list[Subscriber]]
    ) -> None:
        for given, sockets in audiences.items():
            shaped = authority.shape_event(event, given)
            if shaped is not None:
                await self._send_all(sockets, json.dumps(shaped))

    async def _regrant(
        self,
        topic: str,
        members: list[Subscriber],
        event: dict[str, Any],
        audiences: dict[Grant, list[Subscriber]],
    ) -> None:
        """A ModelAdmin that decides by the row is asked again, once per user, after the row
        changed: a row that left a user's view is not sent to them and their socket closes."""
        record = event.get("record", {})
        by_user: dict[Any, list[Subscriber]] = defaultdict(list)
        for member in members:
            by_user[member.user_pk].append(member)
        users = {pk: sockets[0].user for pk, sockets in by_user.items()}
        fresh = await hub_sync_to_async(authority.regrant_users)(
            record.get("ct"), str(record.get("pk")), users
        )
        for pk, sockets in by_user.items():
            given = fresh.get(pk)
            if given is None:
                for member in sockets:
                    await member.revoke(topic)
            else:
                audiences[given].extend(sockets)

    async def _send_all(self, members: list[Subscriber], text: str) -> None:
        """One after another (a send only queues bytes), yielding now and then so the server
        writes the first sockets' frames while it queues the rest."""
        for index, member in enumerate(members, 1):
            try:
                await member.deliver(text)
            except Exception:
                logger.debug("A socket went away during delivery", exc_info=True)
            if index % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    # ------------------------------------------------------------ healing

    async def _canary(self) -> None:
        """Twice a second, send a message to this process's own group. If it does not come
        back (Redis restarted, was flushed or failed over: memberships are gone), or the
        layer fails, join every group again until it does; then every page resyncs."""
        joined = False
        while True:
            await asyncio.sleep(CANARY_SECONDS)
            if self.healthy and time.monotonic() - self.canary_seen > CANARY_LOST_AFTER:
                logger.warning("Group memberships lost (Redis restarted or flushed); rejoining")
                self.healthy = False
            try:
                if not joined or not self.healthy:
                    await self._rejoin()
                    joined = True
                await self.layer.group_send(
                    self.canary_group, {"type": "locks.canary", "topic": self.canary_group}
                )
            except asyncio.CancelledError:
                raise
            except Exception as problem:
                if self.healthy:
                    logger.warning("Channel layer unreachable (%s); pages poll meanwhile", problem)
                self.healthy = False

    async def _rejoin(self) -> None:
        async with self.membership:
            await self.layer.group_add(self.canary_group, self.channel)
            for topic in list(self.topics):
                await self.layer.group_add(topic, self.channel)

    async def _resync_everyone(self) -> None:
        """Events may have been lost while the layer was away: every page asks again."""
        sockets = {s for members in self.topics.values() for s in members}
        await self._send_all(list(sockets), json.dumps({"type": "resync"}))

    def _saw(self, topic: str, event: dict[str, Any]) -> None:
        lock = event.get("lock")
        fence, holder, version = self.seen.get(topic, (0, None, None))
        if isinstance(lock, dict):
            fence = max(fence, lock.get("fence") or 0)
            holder = lock.get("holder_id") if lock.get("held") else None
        if event.get("version") is not None:
            version = event["version"]
        self.seen[topic] = (fence, holder, version)

    async def _digest(self) -> None:
        """Once per heartbeat interval, compare what this process delivered for each record
        topic with the database (one query per model); where they differ, an event was lost
        (or is late), and the topic's pages are sent a `digest` to compare and resync."""
        while True:
            await asyncio.sleep(lock_settings.HEARTBEAT_INTERVAL)
            try:
                await self.check_sequences()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Digest check failed; retrying")

    async def check_sequences(self) -> None:
        records = {t: r for t, r in self.records.items() if self.topics.get(t)}
        if not records:
            return
        now = await hub_sync_to_async(sequences.current)(list(records.values()))
        for topic, ref in records.items():
            current = now.get(ref.key)
            if current is None or current == self.seen.get(topic):
                continue
            self.seen[topic] = current
            fence, holder, version = current
            digest = {
                "type": "digest",
                "record": {"ct": ref.content_type_id, "pk": ref.object_pk, "key": ref.key},
                "fence": fence,
                "holder_id": holder,
                "version": version,
            }
            await self._send_all(list(self.topics.get(topic, ())), json.dumps(digest))

    # ------------------------------------------------------------ presence

    async def _presence(self) -> None:
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(PRESENCE_FLUSH_SECONDS)
            try:
                now = time.monotonic()
                if now - last_refresh > PRESENCE_REFRESH_SECONDS:
                    # Re-announce our viewers (other processes drop silent parts) and drop
                    # the parts of processes that went away.
                    self.local_dirty.update(t for t, v in self.viewers.items() if v)
                    self.merged_dirty.update(self.parts)
                    last_refresh = now
                dirty, self.local_dirty = self.local_dirty, set()
                for topic in dirty:
                    ours = merge_viewers(self.viewers.get(topic, {}).values())
                    # Our own part counts at once, not after a trip through the layer: a page
                    # here hears of a change here within one flush.
                    if ours:
                        self.parts[topic][self.process_id] = (ours, now)
                    else:
                        self.viewers.pop(topic, None)
                        self.parts.get(topic, {}).pop(self.process_id, None)
                    self.merged_dirty.add(topic)
                    await self.layer.group_send(
                        topic,
                        {
                            "type": "locks.presence",
                            "topic": topic,
                            "process": self.process_id,
                            **as_part(ours),
                        },
                    )
                merged, self.merged_dirty = self.merged_dirty, set()
                for topic in merged:
                    await self._send_presence(topic, now)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Presence flush failed")

    async def _send_presence(self, topic: str, now: float) -> None:
        parts = self.parts.get(topic, {})
        for process in [p for p, (_, at) in parts.items() if now - at > PRESENCE_STALE_SECONDS]:
            del parts[process]
        users = merge_viewers(entry for viewers, _ in parts.values() for entry in viewers)
        if not parts:
            self.parts.pop(topic, None)
        watchers = list(self.viewers.get(topic, {}))
        if not watchers:
            self.last_presence.pop(topic, None)
            self.presence_told.pop(topic, None)
            return
        event = {
            "type": "presence",
            "record": {"key": topic.removeprefix(RECORD_PREFIX)},
            "count": len(users),
            "viewers": [
                {"id": uid, "name": name, "editing": editing, "unsaved": unsaved}
                for uid, name, editing, unsaved in users[:PRESENCE_NAMES]
            ],
        }
        text = json.dumps(event)
        told = self.presence_told.setdefault(topic, set())
        if self.last_presence.get(topic) != text:
            self.last_presence[topic] = text
            told.clear()
        news = [w for w in watchers if w not in told]  # nothing new: only newcomers hear it
        told.update(news)
        await self._send_all(news, text)

    # ------------------------------------------------------------ expiry

    async def _sweep(self) -> None:
        """Free locks whose heartbeat stopped, when they are due; viewers hear of it at once.

        One query per wake-up; it sleeps until the earliest lease runs out (at most one lock
        timeout), so an idle site costs almost nothing. Every process sweeps; the service's
        compare-and-set lets exactly one of them win each lock."""
        while True:
            try:
                delay = await hub_sync_to_async(services.seconds_until_next_expiry)()
                await asyncio.sleep(max(0.1, delay))
                await hub_sync_to_async(services.release_stale)()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Expiry sweep failed; retrying")
                await asyncio.sleep(5)

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for topic in list(self.topics):
                try:
                    await self.layer.group_add(topic, self.channel)
                except Exception:
                    logger.exception("Could not refresh group %s", topic)


_hubs: dict[int, Hub] = {}
_starting: dict[int, asyncio.Lock] = {}


async def get_hub() -> Hub:
    """The hub of the running event loop (one per server process), started on first use."""
    loop = asyncio.get_running_loop()
    key = id(loop)
    hub = _hubs.get(key)
    if hub is not None:
        return hub
    lock = _starting.setdefault(key, asyncio.Lock())
    async with lock:
        if key not in _hubs:
            hub = Hub(get_channel_layer())
            await hub.start()
            _hubs[key] = hub
    return _hubs[key]


def hub_of_this_thread() -> Hub | None:
    """The hub of the event loop that this (request) thread was started from, if any:
    Django runs a view in a thread of the ASGI server's loop (asgiref records which)."""
    from asgiref.sync import SyncToAsync

    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return None if loop is None else _hubs.get(id(loop))


def layer_healthy() -> bool:
    """The running event loop's hub exists and hears its channel layer (announcements of
    user changes can arrive): only then do new sockets share what `locks.sharing` keeps."""
    try:
        hub = _hubs.get(id(asyncio.get_running_loop()))
    except RuntimeError:
        return False
    return hub is not None and hub.healthy


async def reset_hubs() -> None:
    """Stop every hub (tests: each test's event loop gets a fresh one)."""
    sharing.forget_all()
    for hub in list(_hubs.values()):
        await hub.stop()
    _hubs.clear()
    _starting.clear()
