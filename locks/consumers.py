"""The websocket endpoint: subscriptions, heartbeats and events for staff pages.

Every message is checked on the server: the user must be active staff, and every topic and
heartbeat is checked against the user's permissions (read afresh for each message). Bad
frames get an `error` reply and change nothing; the connection stays usable. A socket that
sends too fast is closed (locks/frames.py).
See docs/protocol.md.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from . import clock, services
from .conf import lock_settings
from .events import CONSOLE_GROUP, record_group, user_group
from .frames import BadFrame, BoundedInboxMixin, parse
from .hub import get_hub
from .policy import LockPolicy, is_lock_manager
from .records import RecordRef
from .signals import record_values
from .state import display_name

logger = logging.getLogger("locks.consumers")

MAX_ROWS = 500  # records one change-list subscription may name


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LockConsumer(BoundedInboxMixin, AsyncWebsocketConsumer):
    # Sockets need no channel of their own: the hub delivers to them in-process.
    channel_layer_alias = "locks.sockets-have-no-channel"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
            await self.close(code=4403)
            return
        self.user = user
        self.topics: set[str] = set()
        # What each topic was granted for: a content type id, or "console".
        self.grants: dict[str, int | str] = {}
        self.hub = await get_hub()
        await self.accept()
        # Changes to this user (deactivated, permissions revoked) reach the socket at once.
        try:
            await self.hub.subscribe(self, user_group(user.pk))
            self.topics.add(user_group(user.pk))
        except Exception:
            logger.exception("Could not watch user %s for changes", user.pk)
        await self.send_json(
            {
                "type": "welcome",
                "user": {"id": user.pk, "name": display_name(user)},
                "heartbeat_interval": lock_settings.HEARTBEAT_INTERVAL,
                "timeout": lock_settings.TIMEOUT,
            }
        )

    async def disconnect(self, code: int) -> None:
        hub = getattr(self, "hub", None)
        if hub is None:
            return
        for topic in list(self.topics):
            await hub.unsubscribe(self, topic)
        self.topics.clear()

    async def deliver(self, text: str) -> None:
        """Called by the hub with an event already encoded as JSON."""
        await self.send(text_data=text)

    async def recheck(self) -> None:
        """Called by the hub when this user changed: a socket that may no longer see what it
        subscribed to is closed (the page then polls, and HTTP checks permissions too)."""
        try:
            allowed = await self._still_allowed()
        except Exception:
            logger.exception("Could not re-check a socket's permissions; closing it")
            allowed = False
        if not allowed:
            await self.close(code=4403)

    @database_sync_to_async
    def _still_allowed(self) -> bool:
        from django.contrib.auth import get_user_model

        fresh = get_user_model()._default_manager.filter(pk=self.user.pk).first()
        if fresh is None or not fresh.is_active or not fresh.is_staff:
            return False
        self.user = fresh
        for grant in set(self.grants.values()):
            if grant == "console":
                if not self._may_watch_console():
                    return False
                continue
            model = ContentType.objects.get_for_id(grant).model_class()
            if model is None or not self._may(model, "view"):
                return False
        return True

    def _may_watch_console(self) -> bool:
        return is_lock_manager(self.user) or self.user.has_perm("locks.view_editlock")

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request_id = None
        try:
            message = parse(text_data, bytes_data)
            request_id = message.get("id") if isinstance(message.get("id"), (int, str)) else None
            handler = getattr(self, "on_" + message["type"].replace(".", "_"), None)
            if handler is None or message["type"] not in HANDLED:
                raise BadRequest("unknown_type", f"Unknown message type {message['type']!r}.")
            await self.refresh_user()
            reply = await handler(message)
            if reply is not None:
                if request_id is not None:
                    reply["id"] = request_id
                await self.send_json(reply)
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

    @database_sync_to_async
    def refresh_user(self) -> None:
        """Permissions are read afresh for every message, so a revoked one takes effect."""
        from django.contrib.auth import get_user_model

        fresh = get_user_model()._default_manager.filter(pk=self.user.pk).first()
        if fresh is None or not fresh.is_active or not fresh.is_staff:
            raise BadRequest("forbidden", "Your account may no longer use this page.")
        self.user = fresh

    def _record(self, data: Any, action: str = "view") -> RecordRef:
        if not isinstance(data, dict):
            raise BadRequest("bad_message", 'A record is {"ct": <id>, "pk": "<id>"}.')
        return self._records(data.get("ct"), [data.get("pk")], action)[0]

    def _records(self, ct_id: Any, pks: list[Any], action: str = "view") -> list[RecordRef]:
        """The named records of one model, checked for permission and existence in one query."""
        valid_ct = isinstance(ct_id, int) and not isinstance(ct_id, bool)
        if not valid_ct or not all(
            isinstance(pk, (str, int)) and not isinstance(pk, bool) and len(str(pk)) <= 255
            for pk in pks
        ):
            raise BadRequest("bad_message", 'A record is {"ct": <id>, "pk": "<id>"}.')
        try:
            model = ContentType.objects.get_for_id(ct_id).model_class()
        except ContentType.DoesNotExist:
            model = None
        if model is None:
            raise BadRequest("not_found", "No such record.")
        if not self._may(model, action):
            verb = "view" if action == "view" else "edit"
            raise BadRequest("forbidden", f"You may not {verb} this record.")
        try:
            found = {str(obj.pk): obj for obj in model._default_manager.filter(pk__in=pks)}
        except (ValueError, TypeError, ValidationError):
            found = {}
        missing = [pk for pk in pks if str(pk) not in found]
        if missing:
            raise BadRequest("not_found", "No such record.")
        return [RecordRef(ct_id, str(pk), str(found[str(pk)])[:200]) for pk in pks]

    def _may(self, model, action: str) -> bool:
        opts = model._meta
        perms = [f"{opts.app_label}.change_{opts.model_name}"]
        if action == "view":
            perms.append(f"{opts.app_label}.view_{opts.model_name}")
        return any(self.user.has_perm(p) for p in perms)

    # ------------------------------------------------------------ handlers

    async def on_subscribe(self, message: dict[str, Any]) -> dict[str, Any]:
        granted, presence = await self._topics(message), message.get("presence") is True
        topics = [topic for topic, _ in granted]
        for topic, grant in granted:
            if topic not in self.topics:
                await self.hub.subscribe(self, topic)
                self.topics.add(topic)
                self.grants[topic] = grant
        if presence and len(topics) == 1 and topics[0] != CONSOLE_GROUP:
            self.hub.join_presence(self, topics[0], self.user.pk, display_name(self.user))
        return {"type": "subscribed", "topics": len(topics)}

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
        return {"type": "unsubscribed"}

    @database_sync_to_async
    def _topics(self, message: dict[str, Any]) -> list[tuple[str, int | str]]:
        """The topics a subscription names, each with what it was granted for."""
        if "record" in message:
            ref = self._record(message["record"])
            return [(record_group(ref), ref.content_type_id)]
        if "rows" in message:
            rows = message["rows"]
            if not isinstance(rows, dict) or not isinstance(rows.get("pks"), list):
                raise BadRequest("bad_message", 'Rows are {"ct": <id>, "pks": [...]}.')
            if len(rows["pks"]) > MAX_ROWS:
                raise BadRequest("too_large", f"At most {MAX_ROWS} rows per subscription.")
            refs = self._records(rows.get("ct"), rows["pks"])
            return [(record_group(ref), ref.content_type_id) for ref in refs]
        if message.get("console") is True:
            if not self._may_watch_console():
                raise BadRequest("forbidden", "Only lock managers may watch the lock console.")
            return [(CONSOLE_GROUP, "console")]
        raise BadRequest("bad_message", 'Subscribe to a "record", "rows" or the "console".')

    async def on_heartbeat(self, message: dict[str, Any]) -> dict[str, Any]:
        return await self._heartbeat(message)

    @database_sync_to_async
    def _heartbeat(self, message: dict[str, Any]) -> dict[str, Any]:
        ref = self._record(message.get("record"), action="change")
        lease = message.get("lease")
        if not isinstance(lease, str) or len(lease) > 64:
            raise BadRequest("bad_message", "A heartbeat carries the page's lease.")
        outcome = services.heartbeat(ref, self.user, lease, message.get("active") is True)
        return {
            "type": "heartbeat.result",
            **self._state(ref, outcome.state, lease if outcome.ok else None),
            "ok": outcome.ok,
        }

    async def on_sync(self, message: dict[str, Any]) -> dict[str, Any]:
        return await self._state_for(message)

    @database_sync_to_async
    def _state_for(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record's lock and version now, and its values if the page's copy is older."""
        ref = self._record(message.get("record"))
        lease = message.get("lease") if isinstance(message.get("lease"), str) else None
        reply = {"type": "state", **self._state(ref, services.get_state(ref), lease)}
        model = ContentType.objects.get_for_id(ref.content_type_id).model_class()
        obj = model._default_manager.get(pk=ref.object_pk)
        version = getattr(obj, "version", None)
        reply["version"] = version
        if version is not None and message.get("version") != version:
            reply["values"] = record_values(obj)
        return reply

    def _state(self, ref: RecordRef, state, lease: str | None) -> dict[str, Any]:
        now = clock.now()
        policy = LockPolicy(state, self.user, lease, now)
        return {
            "record": {"ct": ref.content_type_id, "pk": ref.object_pk, "key": ref.key},
            "lock": state.as_public_dict(now),
            "can_edit": policy.can_edit,
            "message": policy.get_message(),
        }

    async def on_ping(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong"}


HANDLED = {"subscribe", "unsubscribe", "heartbeat", "sync", "ping"}
