"""The agent: one LLM request per step, actions executed in the browser, steps recorded."""
