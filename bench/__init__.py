"""`make bench`: the gateway measured side by side with nginx and bare Starlette (issue 7)."""
