"""Request dependencies: the process's producer (one per app, thread-safe)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from producer.client import Producer


async def get_producer(request: Request) -> Producer:
    """Async on purpose: a sync dependency costs a thread-pool hop per request."""
    producer: Producer = request.app.state.producer
    return producer


ProducerDep = Annotated[Producer, Depends(get_producer)]
