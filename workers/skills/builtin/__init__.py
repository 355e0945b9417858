"""The built-in skills: read links and tables as data, fill a form from a mapping, keep a download."""

from __future__ import annotations

from workers.skills.base import Skill
from workers.skills.builtin.download_file import download_file
from workers.skills.builtin.extract_links import extract_links
from workers.skills.builtin.extract_tables import extract_tables
from workers.skills.builtin.fill_form import fill_form

BUILTIN_SKILLS: tuple[Skill, ...] = (extract_links, extract_tables, fill_form, download_file)

__all__ = ["BUILTIN_SKILLS"]
