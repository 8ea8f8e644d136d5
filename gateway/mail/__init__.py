"""Registrants and the mail they get.

Owns adding, revoking and reissuing registrants (`registrants`, shared by CLI
and web), reading a registrant CSV (`importer`), composing the personal-link
mail and its transports (`compose`), and the mail queue's worker and bulk
sending (`queue`).

May import `core`, `store`, `audit`, `sessions`, `i18n` and `settings`; never `web`.
"""
