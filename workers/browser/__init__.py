"""Chromium itself: launching it, the pool of browsers on the process's loop (``runtime``), a
context's tabs, and a small CDP client."""
