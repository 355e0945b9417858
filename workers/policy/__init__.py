"""Pure policy, testable without a browser: secrets, domains, network guard."""
