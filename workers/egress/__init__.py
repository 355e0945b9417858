"""The network between Chromium and the world: the egress proxy every request goes through
(``proxy``), its upstreams (country proxies, a caller's ``customProxy``), the name resolver and
the task's guard that starts and polices it."""
