"""The websocket endpoint: subscriptions, heartbeats and events for staff pages.

A message is a request like any other: the user must be active staff with a live session,
and every topic, heartbeat and sync is decided by the locked ModelAdmin of the model, as the
admin decides for an HTTP request by that user (locks/authority.py). A socket belongs to its
session: logout, expiry, deletion, a password change or losing staff status closes it with
4401. Bad frames get an `error` reply and change nothing; a socket that sends too fast is
closed with 1008 (locks/frames.py). See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.contenttypes.models import ContentType

from . import authority, services, sessions, sharing
from .asgi import SERVER_SEND
from .authority import CONSOLE, Grant
from .conf import lock_settings
from .events import CONSOLE_GROUP, record_group, user_group
from .frames import BadFrame, BoundedInboxMixin, parse
from .hub import get_hub
from .inlines import inline_rows
from .live import channel_layer_configured
from .policy import LockPolicy, is_lock_manager
from .records import RecordRef
from .state import display_name
from .trips import database_sync_to_async
from .values import record_values

logger = logging.getLogger("locks.consumers")

MAX_ROWS = 500  # records one change-list subscription may name

# Close codes (docs/protocol.md): the session is over (log in again), or not allowed.
SESSION_ENDED = 4401
FORBIDDEN = 4403
NO_CHANNEL_LAYER = 4503  # CHANNEL_LAYERS unset: manage.py check reports locks.E004
ALLOWED = 1000


BAD_RECORD = 'A record is {"ct": <id>, "pk": "<id>"}.'


def _valid_ct(ct_id: Any) -> bool:
    return isinstance(ct_id, int) and not isinstance(ct_id, bool)


def _valid_pk(pk: Any) -> bool:
    return isinstance(pk, (str, int)) and not isinstance(pk, bool) and len(str(pk)) <= 255


class SocketGone(Exception):
    """The client left while its message waited for the database thread: nobody to answer."""


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LockConsumer(BoundedInboxMixin, AsyncWebsocketConsumer):
    # Sockets need no channel of their own: the hub delivers to them in-process.
    channel_layer_alias = "locks.sockets-have-no-channel"

    ended = False
    user: Any = None
    user_pk: Any = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=SESSION_ENDED)
            return
        if not user.is_active or not user.is_staff:
            await self.close(code=FORBIDDEN)
            return
        if not channel_layer_configured():
            await self.close(code=NO_CHANNEL_LAYER)
            return
        # The user itself, not Channels' lazy wrapper: the hub reads it for every socket on
        # every save (5,000 sockets: 15 ms through the wrapper).
        self.user = getattr(user, "_wrapped", user)
        self.user_pk = self.user.pk
        self.topics: set[str] = set()
        # What each record topic was granted: the record and the fields that may travel.
        self.grants: dict[str, Grant] = authority.Grants()
        # `grant_for` answered by the dict itself: the hub asks it of every socket on every
        # event (5,000 sockets: a few milliseconds less before the first is reached).
        self.grant_for = self.grants.get
        self.records: dict[str, RecordRef] = {}
        # Bound at the handshake (locks.handshake), in the trip that read the user.
        self.session = self.scope.get(sessions.SCOPE_KEY) or await database_sync_to_async(
            sessions.SessionBinding.of
        )(self.scope)
        self.hub = await get_hub()
        await self.accept()
        # Changes to this user (logout, password, rights) reach the socket at once.
        try:
            await self.hub.subscribe(self, user_group(user.pk))
            self.topics.add(user_group(user.pk))
        except Exception:
            logger.exception("Could not watch user %s for changes", user.pk)
        if sharing.stale(user):
            # The user row was lent from before a change announced since: read it again.
            await self.recheck()
            if self.ended:
                return
        self.session_watch = asyncio.create_task(self._watch_session())
        await self.send_json(
            {
                "type": "welcome",
                "user": {"id": user.pk, "name": display_name(user)},
                "heartbeat_interval": lock_settings.HEARTBEAT_INTERVAL,
                "timeout": lock_settings.TIMEOUT,
            }
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As Channels dispatches, without its trip to the database thread before every
        message (`aclose_old_connections`): every handler here that reads the database does
        so through `database_sync_to_async`, which closes old connections itself. One trip
        per message, not two (benchmarks/reconnect_storm.py)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        watch = getattr(self, "session_watch", None)
        if watch is not None:
            watch.cancel()
        hub = getattr(self, "hub", None)
        if hub is None:
            return
        for topic in list(self.topics):
            await hub.unsubscribe(self, topic)
        self.topics.clear()

    async def deliver(self, text: str) -> None:
        """Called by the hub with an event already encoded for this socket's grant: straight
        to the ASGI send (the fan-out calls this once per socket per event)."""
        if not self.ended and not self.wire_closed:
            send = self.scope.get(SERVER_SEND) or self.base_send
            await send({"type": "websocket.send", "text": text})

    def grant_for(self, topic: str) -> Grant | None:
        """What this socket may see of `topic`'s events (the hub shapes them by it)."""
        return self.grants.get(topic)

    async def end_session(self) -> None:
        """The session behind this socket is over: say nothing more, close with 4401."""
        if not self.ended:
            self.ended = True
            await self.close(code=SESSION_ENDED)

    async def session_ended(self, fingerprints: list[str]) -> None:
        """Called by the hub when sessions of this user ended (logout, deletion)."""
        if self.session.fingerprint in fingerprints:
            await self.end_session()

    async def recheck(self) -> None:
        """Called by the hub when this user changed: a socket whose session no longer stands
        is closed with 4401, one that may no longer see what it subscribed to with 4403 (the
        page then polls, and HTTP checks permissions too)."""
        if self.ended:
            return
        try:
            verdict = await self._still_allowed()
        except Exception:
            logger.exception("Could not re-check a socket's permissions; closing it")
            verdict = FORBIDDEN
        if verdict == SESSION_ENDED:
            await self.end_session()
        elif verdict == FORBIDDEN:
            self.ended = True
            await self.close(code=FORBIDDEN)

    async def revoke(self, topic: str) -> None:
        """The record of `topic` left this user's view (the hub asked the ModelAdmin again)."""
        self.grants.pop(topic, None)
        await self.recheck()
        if not self.ended:
            self.ended = True
            await self.close(code=FORBIDDEN)

    async def _watch_session(self) -> None:
        """Expiry, and changes nobody announced (raw SQL, a cache-only session store), close
        the socket too: checked when the session expires and every SESSION_RECHECK seconds,
        with the user read again (messages themselves never read the user)."""
        while not self.ended:
            await asyncio.sleep(self.session.seconds_to_next_check())
            try:
                alive = await self._session_alive()
            except Exception:
                logger.exception("Could not check a socket's session")
                continue
            if not alive:
                await self.end_session()

    @database_sync_to_async
    def _session_alive(self) -> bool:
        from django.contrib.auth import get_user_model

        fresh = get_user_model()._default_manager.filter(pk=self.user.pk).first()
        if not self.session.is_alive(fresh):
            return False
        self.user = fresh
        return True

    @database_sync_to_async
    def _still_allowed(self) -> int:
        from django.contrib.auth import get_user_model

        fresh = get_user_model()._default_manager.filter(pk=self.user.pk).first()
        if not self.session.is_alive(fresh):
            return SESSION_ENDED
        self.user = fresh
        by_model: dict[int, list[str]] = {}
        for topic, given in list(self.grants.items()):  # a subscribe may add one meanwhile
            if given.console:
                if not self._may_watch_console():
                    return FORBIDDEN
            else:
                by_model.setdefault(self.records[topic].content_type_id, []).append(topic)
        for ct_id, topics in by_model.items():
            model_admin = self._admin(ct_id)
            request = self._request()
            if model_admin is None:
                return FORBIDDEN
            pks = [self.records[t].object_pk for t in topics]
            visible = authority.visible_objects(model_admin, request, pks)
            if len(visible) != len(set(pks)):
                return FORBIDDEN
            dynamic = authority.is_dynamic(model_admin, request)
            for topic in topics:
                obj = visible[self.records[topic].object_pk]
                fresh = authority.grant(model_admin, request, obj, dynamic)
                if self.grants.get(topic) != fresh:  # one that stands keeps the hub's groups
                    self.grants[topic] = fresh
        return ALLOWED

    def _still_there(self) -> None:
        """Called first in a message's trip to the database thread: a page that gave up
        (its request timed out, it reconnected) costs no queries. After a server restart
        the trips of 1,000 pages queue on that one thread; without this, the work of pages
        that already dropped their socket would delay everyone else's."""
        inbox = getattr(self, "inbox", None)
        if inbox is not None and inbox.gone:
            raise SocketGone

    def _may_watch_console(self) -> bool:
        return is_lock_manager(self.user) or self.user.has_perm("locks.view_editlock")

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request_id = None
        if self.ended:
            return  # the session ended: nothing is answered any more
        try:
            message = parse(text_data, bytes_data)
            request_id = message.get("id") if isinstance(message.get("id"), (int, str)) else None
            handler = getattr(self, "on_" + message["type"].replace(".", "_"), None)
            if handler is None or message["type"] not in HANDLED:
                raise BadRequest("unknown_type", f"Unknown message type {message['type']!r}.")
            reply = await handler(message)
            if reply is not None:
                if request_id is not None:
                    reply["id"] = request_id
                await self.send_json(reply)
        except SocketGone:
            return  # after a restart, work for pages that gave up is skipped, not queued
        except (BadRequest, BadFrame) as problem:
            reply = {"type": "error", "code": problem.code, "message": problem.message}
            if request_id is not None:
                reply["id"] = request_id
            await self.send_json(reply)
        except Exception:
            logger.exception("Websocket message failed")
            reply = {"type": "error", "code": "internal", "message": "Server error."}
            if request_id is not None:
                reply["id"] = request_id
            await self.send_json(reply)

    # ------------------------------------------------------------ permissions

    def _request(self):
        return authority.request_for(self.user, self.scope)

    @staticmethod
    def _admin(ct_id: int):
        try:
            model = ContentType.objects.get_for_id(ct_id).model_class()
        except ContentType.DoesNotExist:
            return None
        return None if model is None else authority.locked_admin(model)

    def _record(
        self, data: Any, action: str = "view", *, grants: bool = True
    ) -> tuple[RecordRef, Grant | None, Any]:
        if not isinstance(data, dict):
            raise BadRequest("bad_message", BAD_RECORD)
        return self._records(data.get("ct"), [data.get("pk")], action, grants=grants)[0]

    def _records(
        self, ct_id: Any, pks: list[Any], action: str = "view", *, grants: bool = True
    ) -> list[tuple[RecordRef, Grant | None, Any]]:
        """The named records of one model as its locked ModelAdmin shows them to this user:
        each with its grant (unless `grants` is false: a heartbeat sends no values, so it
        does not build the admin's forms) and the object, in one query for the rows."""
        if not _valid_ct(ct_id) or not all(_valid_pk(pk) for pk in pks):
            raise BadRequest("bad_message", BAD_RECORD)
        model_admin = self._admin(ct_id)
        if model_admin is None:
            raise BadRequest("not_found", "No such record.")
        request = self._request()
        visible = authority.visible_objects(model_admin, request, [str(pk) for pk in pks])
        if len(visible) != len({str(pk) for pk in pks}):
            if not model_admin.has_view_or_change_permission(request):
                raise BadRequest("forbidden", "You may not view this record.")
            raise BadRequest("not_found", "No such record.")
        if action == "change" and not all(
            model_admin.has_change_permission(request, obj) for obj in visible.values()
        ):
            raise BadRequest("forbidden", "You may not edit this record.")
        # Asked once for all the rows (it calls get_queryset), and only when granting.
        dynamic = grants and authority.is_dynamic(model_admin, request)
        shared: Grant | None = None  # a static ModelAdmin grants every row the same
        found = []
        for pk in pks:
            obj = visible[str(pk)]
            given = None
            if grants:
                given = shared or authority.grant(model_admin, request, obj, dynamic)
                if not dynamic:
                    shared = given
            found.append((RecordRef(ct_id, str(pk), str(obj)[:200]), given, obj))
        return found

    # ------------------------------------------------------------ handlers

    async def on_subscribe(self, message: dict[str, Any]) -> dict[str, Any]:
        if "record" in message and isinstance(message.get("sync"), dict):
            return await self._subscribe_and_sync(message)
        granted, presence = await self._topics(message), message.get("presence") is True
        topics = [topic for topic, _, _ in granted]
        for topic, ref, given in granted:
            self.grants[topic] = given
            if ref is not None:
                self.records[topic] = ref
            if topic not in self.topics:
                await self.hub.subscribe(self, topic, ref)
                self.topics.add(topic)
        if presence and len(topics) == 1 and topics[0] != CONSOLE_GROUP:
            self.hub.join_presence(self, topics[0], self.user.pk, display_name(self.user))
        return {"type": "subscribed", "topics": len(topics)}

    async def _subscribe_and_sync(self, message: dict[str, Any]) -> dict[str, Any]:
        """A change form (re)connecting: subscribe and sync in one trip to the database
        thread instead of two (after a restart, 1,000 pages queue on that one thread).

        The socket joins the hub's topic first, with no grant (the hub sends it nothing), so
        the state is read while the membership already exists; if an event for the topic
        reached the hub during the trip, the reply leaves the state out and the page syncs."""
        ref = self._parse_ref(message["record"])
        topic = record_group(ref)
        joined = topic not in self.topics
        if joined:
            await self.hub.subscribe(self, topic, ref)
            self.topics.add(topic)
        seen = self.hub.events_delivered(topic)
        try:
            full_ref, given, state = await self._granted_state(message["record"], message["sync"])
        except BaseException:
            if joined and topic not in self.grants:
                await self.hub.unsubscribe(self, topic)
                self.topics.discard(topic)
            raise
        self.grants[topic] = given
        self.records[topic] = full_ref
        if message.get("presence") is True:
            self.hub.join_presence(self, topic, self.user.pk, display_name(self.user))
        reply: dict[str, Any] = {"type": "subscribed", "topics": 1}
        if self.hub.events_delivered(topic) == seen:
            reply["state"] = state
            lock = state["lock"]
            # The hub's digest starts from what this page was told, not from nothing.
            self.hub.seed(topic, (lock["fence"], lock["holder_id"], state["version"]))
        return reply

    @staticmethod
    def _parse_ref(data: Any) -> RecordRef:
        """A record reference as the messages name it, checked for shape only."""
        if not isinstance(data, dict):
            raise BadRequest("bad_message", BAD_RECORD)
        ct_id, pk = data.get("ct"), data.get("pk")
        if not _valid_ct(ct_id) or not _valid_pk(pk):
            raise BadRequest("bad_message", BAD_RECORD)
        return RecordRef(ct_id, str(pk))

    @database_sync_to_async
    def _granted_state(
        self, record: dict[str, Any], sync: dict[str, Any]
    ) -> tuple[RecordRef, Grant, dict[str, Any]]:
        self._still_there()
        sharing.lend(self.user, self.hub.healthy)
        ref, given, obj = self._record(record)
        sharing.keep(self.user, self.hub.healthy)
        return ref, given, self._sync_reply(ref, obj, sync, given)

    async def on_unsubscribe(self, message: dict[str, Any]) -> dict[str, Any]:
        """Leaving needs no permission and works for records deleted meanwhile."""
        record = message.get("record")
        if isinstance(record, dict) and isinstance(record.get("ct"), int):
            topics = [record_group(RecordRef(record["ct"], str(record.get("pk"))))]
        elif message.get("console") is True:
            topics = [CONSOLE_GROUP]
        else:
            raise BadRequest("bad_message", 'Unsubscribe from a "record" or the "console".')
        for topic in topics:
            if topic in self.topics:
                await self.hub.unsubscribe(self, topic)
                self.topics.discard(topic)
            self.grants.pop(topic, None)
            self.records.pop(topic, None)
        return {"type": "unsubscribed"}

    @database_sync_to_async
    def _topics(self, message: dict[str, Any]) -> list[tuple[str, RecordRef | None, Grant]]:
        """The topics a subscription names, each with its record and grant."""
        self._still_there()
        sharing.lend(self.user, self.hub.healthy)
        try:
            return self._named_topics(message)
        finally:
            sharing.keep(self.user, self.hub.healthy)

    def _named_topics(self, message: dict[str, Any]) -> list[tuple[str, RecordRef | None, Grant]]:
        if "record" in message:
            ref, given, _ = self._record(message["record"])
            return [(record_group(ref), ref, given)]
        if "rows" in message:
            rows = message["rows"]
            if not isinstance(rows, dict) or not isinstance(rows.get("pks"), list):
                raise BadRequest("bad_message", 'Rows are {"ct": <id>, "pks": [...]}.')
            if len(rows["pks"]) > MAX_ROWS:
                raise BadRequest("too_large", f"At most {MAX_ROWS} rows per subscription.")
            found = self._records(rows.get("ct"), rows["pks"])
            return [(record_group(ref), ref, given) for ref, given, _ in found]
        if message.get("console") is True:
            if not self._may_watch_console():
                raise BadRequest("forbidden", "Only lock managers may watch the lock console.")
            return [(CONSOLE_GROUP, None, CONSOLE)]
        raise BadRequest("bad_message", 'Subscribe to a "record", "rows" or the "console".')

    async def on_presence(self, message: dict[str, Any]) -> dict[str, Any]:
        """An advisory change form says whether it is editing, with unsaved changes, so every
        page on the record can name it (the lock names only its holder). Only for a record
        this socket joined with presence; editing needs change permission and an advisory
        lock mode. Pages send it when a flag flips, not per keystroke."""
        ref = self._parse_ref(message.get("record"))
        editing, unsaved = message.get("editing"), message.get("unsaved", False)
        if not isinstance(editing, bool) or not isinstance(unsaved, bool):
            raise BadRequest(
                "bad_message", 'Presence says "editing" (and "unsaved") as true or false.'
            )
        topic = record_group(ref)
        if not self.hub.is_viewer(self, topic):
            raise BadRequest(
                "not_subscribed", 'Subscribe to this record with "presence": true first.'
            )
        if editing:
            await self._may_edit_alongside(message["record"])
        if not self.hub.set_editing(self, topic, editing, unsaved):
            raise BadRequest("not_subscribed", "This socket left the record meanwhile.")
        return {
            "type": "presence.result",
            "record": {"ct": ref.content_type_id, "pk": ref.object_pk, "key": ref.key},
            "editing": editing,
            "unsaved": editing and unsaved,
        }

    @database_sync_to_async
    def _may_edit_alongside(self, record: dict[str, Any]) -> None:
        """Change permission on the record, in a ModelAdmin whose lock is advisory (under a
        pessimistic lock, the holder is the only editor and the lock already names them)."""
        self._still_there()
        ref, _, _ = self._record(record, action="change", grants=False)
        if not self._admin(ref.content_type_id).lock_advisory:
            raise BadRequest(
                "not_advisory", "Only records whose lock is advisory take editing announcements."
            )

    async def on_heartbeat(self, message: dict[str, Any]) -> dict[str, Any]:
        return await self._heartbeat(message)

    @database_sync_to_async
    def _heartbeat(self, message: dict[str, Any]) -> dict[str, Any]:
        ref, _, _ = self._record(message.get("record"), action="change", grants=False)
        lease = message.get("lease")
        if not isinstance(lease, str) or len(lease) > 64:
            raise BadRequest("bad_message", "A heartbeat carries the page's lease.")
        unsaved = message.get("unsaved")  # true/false; anything else keeps the stored flag
        outcome = services.heartbeat(
            ref,
            self.user,
            lease,
            message.get("active") is True,
            unsaved if isinstance(unsaved, bool) else None,
        )
        return {
            "type": "heartbeat.result",
            **self._state(ref, outcome.state, lease if outcome.ok else None),
            "ok": outcome.ok,
        }

    async def on_sync(self, message: dict[str, Any]) -> dict[str, Any]:
        return await self._state_for(message)

    @database_sync_to_async
    def _state_for(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record's lock and version now, and the values this user's change form shows
        if the page's copy is older."""
        self._still_there()
        ref, _, obj = self._record(message.get("record"), grants=False)
        return self._sync_reply(ref, obj, message)

    def _sync_reply(
        self, ref: RecordRef, obj: Any, message: dict[str, Any], given: Grant | None = None
    ) -> dict[str, Any]:
        lease = message.get("lease") if isinstance(message.get("lease"), str) else None
        reply = {"type": "state", **self._state(ref, services.get_state(ref), lease)}
        version = getattr(obj, "version", None)
        reply["version"] = version
        if version is not None and message.get("version") != version:
            # Only now are the admin's forms asked which fields this user may see.
            model_admin = self._admin(ref.content_type_id)
            if given is None:
                given = authority.grant(model_admin, self._request(), obj)
            reply["values"] = authority.only_visible(record_values(obj), given.fields)
            reply["inlines"] = authority.shape_inlines(inline_rows(model_admin, obj), given)
        return reply

    def _state(self, ref: RecordRef, state, lease: str | None) -> dict[str, Any]:
        """The lock as this user's page sees it, in the ModelAdmin's lock mode."""
        model_admin = self._admin(ref.content_type_id)
        if model_admin is not None:
            policy = model_admin.lock_policy(state, self._request(), lease)
        else:
            policy = LockPolicy(state, self.user, lease)
        return {
            "record": {"ct": ref.content_type_id, "pk": ref.object_pk, "key": ref.key},
            "lock": state.as_public_dict(),
            "can_edit": policy.can_edit,
            "advisory": policy.advisory,
            "can_decline_handover": policy.can_decline_handover,
            "message": policy.get_message(),
        }

    async def on_ping(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong"}


HANDLED = {"subscribe", "unsubscribe", "presence", "heartbeat", "sync", "ping"}
