"""A real SMTP server for tests (aiosmtpd), which can refuse, defer, stop and start again."""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class SmtpHandler:
    received: list[Received] = field(default_factory=list)
    answer: str = "250 OK"  # or e.g. "451 4.3.0 try later", "550 5.1.1 no such user"
    fail_after: int | None = None  # accept this many, then answer `answer_after`
    answer_after: str = "451 4.3.0 try later"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        answer = self.answer
        if self.fail_after is not None and len(self.received) >= self.fail_after:
            answer = self.answer_after
        if answer.startswith("250"):
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    email.message_from_bytes(envelope.content),
                )
            )
        return answer


class SmtpServer:
    """`smtp://127.0.0.1:<port>`, stoppable and restartable on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SmtpHandler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.handler.received if address in r.recipients]
