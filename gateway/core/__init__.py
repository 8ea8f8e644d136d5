"""The pure core: what the gateway decides, with no I/O and no framework.

Owns the schedule and its windows, the access decision (`access.decide`),
HLS playlist parsing and filtering, path rules, time parsing and display, the
injected clock's type, the record types every layer passes around (`records`)
and the audit hash chain (`chain`), and the domain errors.

Imports nothing from the gateway outside `gateway.core` (checked by import-linter).
"""
