"""Websocket consumer: live lock and record events (filled in by the live-update work)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class LockConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)
            return
        await self.accept()
