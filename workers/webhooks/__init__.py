"""Webhook deliveries (the webhook worker's side): sign, send through the network policy, retry.

No browser here: a webhook worker imports none of the browser stack.
"""
