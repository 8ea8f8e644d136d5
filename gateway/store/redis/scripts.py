"""The Lua scripts of `RedisStore`, read once at import from `lua/` (one file per script).

Each file says its KEYS, ARGV and reply in `--` comments. `epoch_start.lua` and
`note_change.lua` are preludes (local functions), put before the scripts that use them;
`$ACCESS_LOG_SIZE` in a file is replaced by `gateway.store.ACCESS_LOG_SIZE`.
"""

from __future__ import annotations

from importlib.resources import files
from string import Template

from gateway.store import ACCESS_LOG_SIZE

_LUA = files(__package__ or __name__) / "lua"


def _read(name: str) -> str:
    text = (_LUA / f"{name}.lua").read_text(encoding="utf-8")
    return Template(text).substitute(ACCESS_LOG_SIZE=ACCESS_LOG_SIZE)


_EPOCH_START = _read("epoch_start")
_NOTE_CHANGE = _EPOCH_START + _read("note_change")

# The prelude each script runs after (none when absent).
_PRELUDES = {
    "change_link": _NOTE_CHANGE,
    "restore_link": _NOTE_CHANGE,
    "create_session": _NOTE_CHANGE,
    "end_sessions": _NOTE_CHANGE,
    "access_changes": _EPOCH_START,
}

SCRIPTS: dict[str, str] = {
    name: _PRELUDES.get(name, "") + _read(name)
    for name in (
        "add_registrant",
        "registrant_by_email",
        "all_registrants",
        "change_link",
        "restore_link",
        "create_session",
        "end_sessions",
        "access_changes",
        "count_sessions",
        "enqueue_mail",
        "claim_mail",
        "finish_mail",
        "mail_jobs",
        "purge_candidates",
        "purge",
        "attendance",
        "replace_value",
    )
}
