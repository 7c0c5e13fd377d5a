"""HAProxy's configuration for the cluster: the public front on CLUSTER_PORT and the action servers' front.

Gateways are checked on /livez (is the process serving), not /healthz: while the
database is away every gateway still answers residents with the polite fallback,
and a balancer that took them all out would answer 503 instead. A request whose
connection to a replica fails is sent to another (`option redispatch`, retries on
connection failure only: a request that reached a replica is never sent twice).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fronts:
    """Where the balancer listens and what it balances."""

    public: str  # host:port of the gateway API (CLUSTER_PORT)
    health: str  # host:port of the supervisor's cluster health page, served as /healthz
    gateways: list[str]
    actions_front: str  # host:port Rasa and the gateways reach the action servers at
    actions: list[str]


def _servers(prefix: str, addresses: list[str], check: str) -> list[str]:
    return [f"    server {prefix}{i} {address} {check}" for i, address in enumerate(addresses)]


def haproxy_config(fronts: Fronts) -> str:
    """The haproxy.cfg text: round robin over healthy replicas, checked every second."""
    check = "check inter 1s fall 2 rise 1"
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    retries 2",
        "    retry-on conn-failure",
        "    option redispatch",
        # The gateways count quotas per client address: they read it from here (uvicorn trusts 127.0.0.1).
        "    option forwardfor",
        "frontend public",
        f"    bind {fronts.public}",
        "    use_backend cluster_health if { path /healthz }",
        "    default_backend gateways",
        "backend gateways",
        "    balance roundrobin",
        "    option httpchk GET /livez",
        *_servers("gateway", fronts.gateways, check),
        "backend cluster_health",
        f"    server supervisor {fronts.health}",
        "frontend actions",
        f"    bind {fronts.actions_front}",
        "    default_backend actions",
        "backend actions",
        "    balance roundrobin",
        "    option httpchk GET /health",
        *_servers("actions", fronts.actions, check),
    ]
    return "\n".join(lines) + "\n"
