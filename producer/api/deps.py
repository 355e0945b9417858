"""Request dependencies: the process's producer (one per app, thread-safe)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from producer.client import Producer


def get_producer(request: Request) -> Producer:
    producer: Producer = request.app.state.producer
    return producer


ProducerDep = Annotated[Producer, Depends(get_producer)]
