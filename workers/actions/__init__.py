"""The action registry: one small module per action, all with the same shape."""

from __future__ import annotations

from workers.actions import (
    click,
    close_tab,
    done,
    dropdown_options,
    extract,
    go_back,
    input_text,
    navigate,
    scroll,
    select_dropdown,
    send_keys,
    switch_tab,
    upload_file,
    wait,
)
from workers.actions.base import Action, ActionContext, ActionError, ActionResult

ACTIONS: dict[str, Action] = {
    module.ACTION.name: module.ACTION
    for module in (
        navigate,
        click,
        input_text,
        select_dropdown,
        dropdown_options,
        scroll,
        send_keys,
        go_back,
        switch_tab,
        close_tab,
        wait,
        extract,
        upload_file,
        done,
    )
}

__all__ = ["ACTIONS", "Action", "ActionContext", "ActionError", "ActionResult"]
