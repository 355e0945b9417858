"""Browser sessions (``POST /browsers``): a Chromium of the caller's own, served over the
worker's CDP relay, its profile's cookies in and out, its lease, its end."""
