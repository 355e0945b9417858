"""browserfleet's shared contract: wire models, settings, Redis keys and the task-record store.

This package imports nothing from ``producer`` or ``workers``; both depend on it.
"""
