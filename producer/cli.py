"""The ``browserfleet`` command: run workers, enqueue tasks and follow them live.

Worker commands exec Celery (``celery -A workers.celery_app:app ...``) so that the
producer side never imports worker code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.crypto import new_key
from shared.models import TaskStatus, TaskStepView, TaskView, format_cost
from shared.settings import get_settings

from .client import Producer
from .errors import ProducerError, TaskValidationError
from .fleet import FleetError, FleetOptions, celery_argv, start_fleet, worker_argv
from .supervisor import Supervisor

# No local variables in tracebacks: they would print settings, keys and task payloads.
app = typer.Typer(help="browserfleet: LLM browser agents on a Celery fleet.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
console = Console()


def _exec(argv: list[str]) -> None:
    os.execv(argv[0], argv)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues (default: the agent queue).")] = "",
    concurrency: Annotated[int, typer.Option(help="Concurrent tasks in this process.")] = 0,
    loglevel: Annotated[str, typer.Option()] = "INFO",
    hostname: Annotated[str, typer.Option(help="Celery node name.")] = "",
    judge: Annotated[
        bool | None,
        typer.Option(
            "--judge/--no-judge",
            help="Also run a judge worker beside the agent worker (default: on unless --queues is given).",
        ),
    ] = None,
    judge_concurrency: Annotated[int, typer.Option(help="Judge calls at once (default: setting).")] = 0,
    metrics_port: Annotated[int, typer.Option(help="Serve Prometheus metrics (judge: port + 1).")] = 0,
) -> None:
    """Start a worker: one process, one event loop, N concurrent agent tasks.

    By default a small judge worker runs beside it in its own process, so judged tasks finish
    with only this command running and judge calls never wait behind long agent tasks. Fleets
    with dedicated judge workers pass ``--no-judge`` (or name ``--queues``).
    """
    settings = get_settings()
    metrics_port = metrics_port or settings.metrics_port or 0
    if metrics_port:
        os.environ["BROWSERFLEET_METRICS_PORT"] = str(metrics_port)
    agent = worker_argv(queues or settings.queue, concurrency or settings.concurrency, loglevel, hostname)
    judge_threads = judge_concurrency or settings.judge_concurrency
    with_judge = (judge if judge is not None else not queues) and judge_threads > 0
    if not with_judge:
        _exec(agent)
        return
    judge_node = f"judge-{hostname}" if hostname and "@" not in hostname else "judge@%h"
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    supervisor.start("agent worker", agent)
    judge_env = dict(os.environ)
    if metrics_port:
        judge_env["BROWSERFLEET_METRICS_PORT"] = str(metrics_port + 1)
    supervisor.start("judge worker", worker_argv(settings.judge_queue, judge_threads, loglevel, judge_node),
                     env=judge_env)
    raise typer.Exit(supervisor.run())


@app.command()
def up(
    workers: Annotated[int, typer.Option(help="Agent worker processes.")] = 1,
    concurrency: Annotated[int, typer.Option(help="Concurrent tasks per worker (default: setting).")] = 0,
    api_host: Annotated[str, typer.Option(help="Address the API binds.")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option()] = 8000,
    flower_port: Annotated[int, typer.Option(help="0: no Flower.")] = 5555,
    judge: Annotated[bool, typer.Option("--judge/--no-judge", help="Run a judge worker.")] = True,
    data_dir: Annotated[Path, typer.Option(help="Embedded Redis data, generated keys, logs.")] = Path(
        ".browserfleet"),
) -> None:
    """A whole local fleet in the foreground: Redis (if none answers), workers, judge, API, Flower."""
    settings = get_settings()
    options = FleetOptions(workers=workers, concurrency=concurrency, judge=judge, api_host=api_host,
                           api_port=api_port, flower_port=flower_port or None, data_dir=data_dir)
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    try:
        shown = start_fleet(supervisor, settings, options)
    except FleetError as exc:
        supervisor.stop(timeout_s=30)
        console.print(f"[red]browserfleet up: {exc}[/red]")
        raise typer.Exit(1) from None
    lines = [f"API     {shown['api']}", f"API key {shown['api_key']}"]
    lines += [f"Flower  {shown['flower']}"] if "flower" in shown else []
    lines += [f"{shown['redis']}; logs in {shown['logs']}", "From Python (pip install browser-use-sdk):",
              shown["sdk"], "browserfleet is up; Ctrl-C stops it (running tasks finish first)."]
    typer.echo("\n".join(lines))
    raise typer.Exit(supervisor.run())


@app.command()
def flower(port: Annotated[int, typer.Option()] = 5555) -> None:
    """Start Flower (the fleet's dashboard) on ``port``."""
    _exec(celery_argv("flower", f"--port={port}"))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    loglevel: Annotated[str, typer.Option()] = "info",
    root_path: Annotated[str, typer.Option(help="Prefix a reverse proxy strips, e.g. /fleet.")] = "",
) -> None:
    """Serve the HTTP API (Browser Use Cloud v2 compatible, under /api/v2) with uvicorn."""
    from .api.auth import ApiKeyConfigError, ApiKeys
    from .api.server import serve

    settings = get_settings()
    try:
        # fail fast, before any process starts
        ApiKeys(settings.api_keys, settings.scoped_api_keys, settings.api_key_op_vaults,
                settings.api_key_skills)
    except ApiKeyConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    serve(settings, host, port, workers, loglevel, root_path)


@app.command()
def keygen() -> None:
    """Print a new BROWSERFLEET_SECRETS_KEY."""
    typer.echo(new_key())


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    start_url: Annotated[str | None, typer.Option("--start-url")] = None,
    llm: Annotated[str | None, typer.Option("--llm")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = None,
    schema: Annotated[Path | None, typer.Option("--schema", help="JSON Schema file for the output.")] = None,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Show live steps.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait when following.")] = 1800,
) -> None:
    """Enqueue a task; with --follow (default) show its steps live and print the output."""
    payload: dict[str, object] = {"task": task}
    if start_url:
        payload["startUrl"] = start_url
    if llm:
        payload["llm"] = llm
    if max_steps is not None:
        payload["maxSteps"] = max_steps
    if schema:
        payload["structuredOutput"] = schema.read_text()
    producer = Producer()
    try:
        created = producer.create_task(payload)
    except TaskValidationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"task [bold]{created.id}[/bold] (session {created.session_id}) enqueued")
    if not follow:
        return
    console.print(f"watch live: {producer.live.task_url(created.id)}", markup=False, highlight=False)
    for step in producer.follow(created.id):
        _print_step(step)
    view = producer.wait(created.id, timeout=timeout)
    _print_outcome(view, structured=schema is not None)
    if view.status != TaskStatus.finished:
        raise typer.Exit(1)


def _print_outcome(view: TaskView, *, structured: bool) -> None:
    """Status, cost and reason on lines of their own; the output last, as the model gave it.

    Only a structured (schema) output is JSON, and it is printed compact on one line; a
    plain-text output is printed as text, never parsed.
    """
    colour = "green" if view.status == TaskStatus.finished and view.is_success else "yellow"
    console.print(f"[{colour}]{view.status.value}[/{colour}] success={view.is_success} "
                  f"cost=${format_cost(view.cost)}",
                  highlight=False)
    if view.error:
        console.print(f"reason: {view.error}", markup=False, highlight=False)
    if view.output is None:
        return
    if structured:
        try:
            typer.echo(json.dumps(json.loads(view.output), ensure_ascii=False))
            return
        except ValueError:  # a failed run's output need not match the schema: show it as it is
            pass
    typer.echo(view.output)


def _print_step(step: TaskStepView) -> None:
    actions = ", ".join(step.actions) or "-"
    console.print(f"[cyan]step {step.number}[/cyan] {step.url}")
    if step.next_goal:
        console.print(f"  goal: {step.next_goal}")
    console.print(f"  actions: {actions}")
    for result in step.results:
        console.print(f"  -> {result[:200]}")


@app.command()
def status(
    task_id: Annotated[str | None, typer.Argument(help="A task id; none: the fleet's queues.")] = None,
    steps: Annotated[bool, typer.Option("--steps")] = False,
) -> None:
    """Show a task's status (and its steps), or with no id the queues and their consumers."""
    producer = Producer()
    if task_id is None:
        _print_queues(producer)
        return
    try:
        view = producer.get_task(task_id)
    except ProducerError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    table = Table(show_header=False)
    for key in ("id", "status", "is_success", "created_at", "started_at", "finished_at", "error"):
        table.add_row(key, str(getattr(view, key)))
    table.add_row("cost", format_cost(view.cost))
    table.add_row("steps", str(len(view.steps)))
    table.add_row("output", view.output or "")
    console.print(table)
    if view.status in (TaskStatus.created, TaskStatus.started):
        for warning in _queue_warnings(producer):
            console.print(f"[yellow]warning:[/yellow] {warning}")
    if steps:
        for step in view.steps:
            _print_step(step)


def _queue_warnings(producer: Producer) -> list[str]:
    return [q.warning for q in producer.queues() if q.warning]


def _print_queues(producer: Producer) -> None:
    table = Table("queue", "waiting", "consumers")
    queues = producer.queues()
    for queue in queues:
        table.add_row(queue.name, str(queue.waiting), str(queue.consumers))
    console.print(table)
    for queue in queues:
        if queue.warning:
            console.print(f"[yellow]warning:[/yellow] {queue.warning}")


@app.command()
def stop(task_id: str) -> None:
    """Ask a task to stop (before its next LLM call or action)."""
    try:
        view = Producer().stop(task_id)
    except ProducerError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(json.dumps({"id": str(view.id), "status": view.status.value}))


if __name__ == "__main__":
    app()
