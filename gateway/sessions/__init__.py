"""Who is let in: personal links, sessions and the ops controls that gate them.

Owns the gatekeeper (opening a link, authorising a request with
`core.access.decide`), the in-process session cache, link tokens, the one
module that builds every itsdangerous serializer (`signing`), and ops'
schedule changes and kill switch (`controls`).

May import `core`, `store`, `audit`, `metrics` and `settings`; never `web`.
"""
