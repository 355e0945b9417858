"""Pure policy, testable without a browser: the network rules, navigation and where a secret may
go, what CDP commands may do."""
