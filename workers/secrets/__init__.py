"""Every secret of a task in one place: the vault (placeholders in, values out, masking), its one
builder for the run and the judge (``task_vault``, with 1Password), releasing a value for a
field's document, the log filter, and whether a page shows a secret. Imported downward only;
the placeholder syntax and the masker are :mod:`shared.masking`'s."""
