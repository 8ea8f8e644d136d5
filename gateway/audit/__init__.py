"""What auditors read: the hash-chained audit log and everything around it.

Owns appending events (`log`), the spool that keeps them through a store
outage (`spool`), the local revocation journal (`journal`), signed
checkpoints and verification (`checkpoints`, `verify`), the export, and
attendance minutes. The chain's hashing itself is pure and lives in
`core.chain`.

May import `core`, `store` and `settings`; never `web`.
"""
