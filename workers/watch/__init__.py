"""Frames and video: the live view of a task (its screencast, published while watched), a
browser session's screencast, and recordings (WebM) of either."""
