"""The README stays true: every setting is documented, the quoted commands exist."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    names = [f"BROWSERFLEET_{n.upper()}" for n in Settings.model_fields]
    missing = [name for name in names if f"`{name}`" not in README]
    assert not missing, f"README configuration table lacks {missing}: run `python -m shared.settings`"


def test_readme_names_the_two_commands_and_make_targets_exist() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    for target in ("quickstart", "test", "bench"):
        assert f"make {target}" in README
        assert f"\n{target}:" in makefile
