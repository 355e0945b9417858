"""The judge: after a run with ``judge: true``, a separate LLM call on its own queue rates it.

``handoff`` is the run worker's side (mark the judge pending, enqueue it), ``run`` the
judge worker's (build the masked prompt, ask, write ``judgement``/``judgeVerdict``),
``tasks`` the Celery task. See ``docs/judge_and_skills.md``.
"""
