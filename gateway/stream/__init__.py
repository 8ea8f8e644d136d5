"""The bytes: origins, the origin cache, live segment dating and captions.

Owns reading the live and recording origins (file or HTTP), the single-flight
origin cache, dating live segments and watching the encoder, archiving the
streamed parts and writing the recording from them, and checking captions and
their deadline.

May import `core`, `store`, `metrics` and `settings`; never `web`.
"""
