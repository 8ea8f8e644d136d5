"""Helpers shared by the tests (not tests themselves): a counting store wrapper, HLS
writers for a simulated encoder, one threaded HTTP origin, an SMTP server, the
nginx wrapper (rendering shared with `bench/deploy_render.py`) and one bounded wait."""
