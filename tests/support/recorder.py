"""Counting the app's signals in tests."""

from __future__ import annotations

from typing import Any

from django_euler_oauth import signals


class Recorder:
    """Counts every signal of the app (sent after commit)."""

    names = ("token_refreshed", "refresh_failed", "reauthorization_required", "disconnected",
             "connected")

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._receivers = []
        for name in self.names:
            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                self.events.append((_name, kwargs))
            getattr(signals, name).connect(receiver, weak=False)
            self._receivers.append((name, receiver))

    @staticmethod
    def commit() -> None:
        """Run the on_commit callbacks the test transaction holds back, as a commit would."""
        from django.db import connection

        for _round in range(100):
            if not connection.run_on_commit:
                return
            pending, connection.run_on_commit[:] = list(connection.run_on_commit), []
            for entry in pending:
                entry[1]()

    def count(self, name: str) -> int:
        self.commit()
        return sum(1 for event, _ in self.events if event == name)

    def of(self, name: str) -> list[dict[str, Any]]:
        self.commit()
        return [kwargs for event, kwargs in self.events if event == name]

    def close(self) -> None:
        for name, receiver in self._receivers:
            getattr(signals, name).disconnect(receiver)
