"""A real store, counted: which store methods were called, and a switch that takes it down.

Not a mock: every call goes to the real store behind it (SQLite or Redis), unless
`down` is set, when every call raises StoreUnavailable as an unreachable store does.
`after[name]` runs once after the next call of that method returns (to stage a race).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.core.errors import StoreUnavailable
from gateway.store import Store


class CountingStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.down = False
        self.after: dict[str, Callable[[], Awaitable[None]]] = {}  # run after a method's call

    def local_access_changes(self) -> int:  # no I/O: neither counted nor taken down
        return self.inner.local_access_changes()

    def __getattr__(self, name: str) -> Any:  # Any: so it is a `Store` to mypy
        method = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self.down:
                raise StoreUnavailable(f"{name}: the store is down (test)")
            result = await method(*args, **kwargs)
            if name in self.after:
                await self.after.pop(name)()
            return result

        return counted

    def session_calls(self) -> int:
        """Calls that read a session's state (what the cache should spare)."""
        return self.calls["session"] + self.calls["registrant"]

    def reset(self) -> None:
        self.calls.clear()
