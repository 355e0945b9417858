"""One run of a job on this worker, from its record to its end: an agent task (execution, assembly,
hand-off to the judge, budget, what it inherits from its session) or a skill execution."""
