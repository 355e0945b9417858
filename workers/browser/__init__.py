"""Everything that touches Chromium: launching, the pool, sessions (tabs), page state."""
