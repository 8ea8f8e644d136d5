"""Livestream access gateway: serves the streamed parts of a hybrid event to registrants only."""

from __future__ import annotations
