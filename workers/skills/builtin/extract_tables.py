"""``extract_tables``: the page's HTML tables as rows (objects keyed by header when there is one)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from workers.actions.base import ActionError
from workers.skills.base import SkillContext, SkillParams, skill

_TABLES_JS = """
() => {
  const clean = (cell) => (cell.innerText || '').replace(/\\s+/g, ' ').trim();
  return Array.from(document.querySelectorAll('table')).map((table) => {
    const rows = Array.from(table.rows).map((row) => ({
      header: row.parentElement.tagName === 'THEAD' || Array.from(row.cells).every((c) => c.tagName === 'TH'),
      cells: Array.from(row.cells).map(clean),
    }));
    const headerRow = rows.length && rows[0].header ? rows.shift().cells : null;
    return {
      caption: table.caption ? clean(table.caption) : '',
      headers: headerRow,
      rows: rows.filter((r) => r.cells.length).map((r) => r.cells),
    };
  });
}
"""


class TablesParams(SkillParams):
    index: int | None = Field(None, ge=0, description="only the table with this 0-based number")
    max_rows: int = Field(50, ge=1, le=1000, description="most rows per table")


def _shape(number: int, table: dict[str, Any], max_rows: int) -> dict[str, Any]:
    headers: list[str] | None = table["headers"]
    rows: list[list[str]] = table["rows"]
    shaped: list[Any] = [
        dict(zip(headers, row, strict=True)) if headers and len(row) == len(headers) else row
        for row in rows[:max_rows]
    ]
    return {"index": number, "caption": table["caption"], "headers": headers,
            "total_rows": len(rows), "rows": shaped}


@skill("extract_tables", title="Extract tables")
async def extract_tables(ctx: SkillContext, params: TablesParams) -> dict[str, Any]:
    """Read the page's tables as rows (objects keyed by header); index: one table only."""
    page = await ctx.page()
    tables = await page.evaluate(_TABLES_JS)
    numbered = list(enumerate(tables))
    if params.index is not None:
        if params.index >= len(tables):
            raise ActionError(f"no table {params.index}: the page has {len(tables)} table(s)")
        numbered = [numbered[params.index]]
    return {
        "url": page.url,
        "table_count": len(tables),
        "tables": [_shape(n, t, params.max_rows) for n, t in numbered],
    }
