"""LLM spend per account, per UTC day and calendar month: what budgets are checked against.

Spend is kept in Redis as integer nano-dollars (``INCRBY``: exact, and a litellm price of a
few millionths of a dollar per call is still thousands of units), one counter per account
and period, expiring some time after its period ends. Workers charge a task's cost as it
grows (one script call per step, :meth:`SpendStore.charge`), the judge charges its own, and
the producer reads the counters to refuse tasks of an account whose budget is spent (inside
the create script, see :class:`AccountGate`) and to report what is left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import redis

from shared import keys
from shared.accounts import Limits

NANO = Decimal(1_000_000_000)
DAY_TTL_S = 3 * 86400  # a day's counter outlives its day (reports of yesterday, clock skew)
MONTH_TTL_S = 63 * 86400


def to_nano(dollars: Decimal) -> int:
    return int((dollars * NANO).to_integral_value())


def to_dollars(nano: int) -> Decimal:
    return Decimal(nano) / NANO


def periods(at: float | None = None) -> tuple[str, str]:
    """The day and month (UTC) counters a charge at ``at`` goes to: ``d20261206``, ``m202612``."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("d%Y%m%d"), moment.strftime("m%Y%m")


@dataclass(frozen=True)
class Spent:
    """An account's spend so far today and this month, in dollars."""

    today: Decimal
    this_month: Decimal

    def over(self, limits: Limits) -> str | None:
        """Why the account may spend no more (its daily or monthly budget is used up), or None."""
        if limits.daily_budget_usd is not None and self.today >= limits.daily_budget_usd:
            return (f"the API key's daily budget of ${usd(limits.daily_budget_usd)} is spent "
                    f"(${usd(self.today)} today, UTC)")
        if limits.monthly_budget_usd is not None and self.this_month >= limits.monthly_budget_usd:
            return (f"the API key's monthly budget of ${usd(limits.monthly_budget_usd)} is spent "
                    f"(${usd(self.this_month)} this month, UTC)")
        return None


def usd(value: Decimal) -> str:
    """Dollars as people write them: ``0.0000001``, ``12.5``, never ``1E-7``."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class AccountGate:
    """What the create script checks for one account before it writes a batch (see
    ``shared.task_queue``): active and queued tasks against the limits, and today's and this
    month's spend against the budgets."""

    account: str
    limits: Limits

    def args(self, oldest_counted: float, at: float | None = None) -> list[str | int]:
        day, month = periods(at)
        budget = self.limits
        return [
            self.account, budget.max_active_tasks, budget.max_queued_tasks,
            keys.account_spend(self.account, day),
            "" if budget.daily_budget_usd is None else to_nano(budget.daily_budget_usd),
            keys.account_spend(self.account, month),
            "" if budget.monthly_budget_usd is None else to_nano(budget.monthly_budget_usd),
            repr(oldest_counted),
        ]


NO_GATE: list[str | int] = ["", 0, 0, "", "", "", "", "0"]

# KEYS: [1] day counter, [2] month counter, [3] task record ('' key: none). ARGV: [1] nano-dollars,
# [2] the task's cost so far (the record's JSON value), [3] day TTL, [4] month TTL.
# Returns the day's and the month's totals.
_CHARGE = """
local day, month = redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'cost', ARGV[2]) end
return {day, month}
"""


class SpendStore:
    """Charges and reads accounts' spend; thread-safe, one per process."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._charge = client.register_script(_CHARGE)

    def charge(
        self, account: str, amount: Decimal, task_id: str | None = None, task_cost: Decimal | None = None
    ) -> Spent:
        """Add ``amount`` to the account's day and month (and record ``task_cost``, the task's
        cost so far, on its record): one script call; returns the new totals."""
        day, month = periods()
        cost = '"' + format(task_cost, "f") + '"' if task_cost is not None and task_id else ""
        totals = self._charge(
            keys=[keys.account_spend(account, day), keys.account_spend(account, month),
                  keys.task(task_id or "")],
            args=[to_nano(amount), cost, DAY_TTL_S, MONTH_TTL_S],
        )
        return Spent(to_dollars(int(totals[0])), to_dollars(int(totals[1])))

    def spent(self, account: str) -> Spent:
        day, month = periods()
        raw = self._redis.mget([keys.account_spend(account, day), keys.account_spend(account, month)])
        return Spent(to_dollars(int(raw[0] or 0)), to_dollars(int(raw[1] or 0)))

    def counts(self, account: str) -> tuple[int, int]:
        """The account's tasks now active (queued or running) and queued."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zcard(keys.account_tasks(account, "active"))
        pipe.zcard(keys.account_tasks(account, "queued"))
        active, queued = pipe.execute()
        return int(active), int(queued)
