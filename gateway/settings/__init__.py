"""Configuration: one TOML file into one frozen, typed `Settings`, validated at start.

Every problem is collected and reported at once, each naming the file, the key
and the reason (`ConfigError`). Unknown keys are refused: a typo must not turn
into a silently ignored window. Secrets never live in the file: they come from
the environment, read here and nowhere else, and their `repr` is masked.
`model` holds the settings' types, `reader` the reading.

May import `core`.
"""

from gateway.settings.model import (
    AccessibilitySettings,
    AdminSettings,
    AuditSettings,
    CaptionSettings,
    Event,
    MailSettings,
    OriginSettings,
    Secret,
    Secrets,
    SessionSettings,
    Settings,
)
from gateway.settings.reader import load_settings

__all__ = [
    "AccessibilitySettings",
    "AdminSettings",
    "AuditSettings",
    "CaptionSettings",
    "Event",
    "MailSettings",
    "OriginSettings",
    "Secret",
    "Secrets",
    "SessionSettings",
    "Settings",
    "load_settings",
]
