"""Languages: English by default, Finnish and Swedish, for pages and mail.

Owns the message catalogues (`messages/`) and the translator. Choosing a
page's language from a request stays in `web.i18n`.

Imports nothing from the gateway (mail and web both use it).
"""
