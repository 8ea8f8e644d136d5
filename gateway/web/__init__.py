"""The HTTP edge: routes, pages and the mapping of domain errors to statuses."""

from __future__ import annotations
