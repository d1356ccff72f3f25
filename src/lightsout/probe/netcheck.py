"""Is this network working at all? The control check run before any test.

A verdict of blocking says that the network interfered with one target while the internet
worked. On a machine that is offline, or behind a resolver that fails for every name, every
target fails: that is not censorship. Before measuring, the probe therefore checks

1. the **resolver**: the control names (``[network_check] names``, by default well-known names
   no censor of record blocks) are looked up with the configured resolver; when none resolves
   they are looked up with a **second resolver** (``second_resolver``);
2. the **network**: a TCP connection to the control names' addresses (``port``, 443), and, when
   no name resolved anywhere, to the second resolver itself (TCP port 53).

The outcome (:class:`NetworkState`) goes into every measurement's annotations
(``lightsout_network_check`` and ``lightsout_network_check_reason``), so the verdict
(:func:`lightsout.apps.verdict.judge`) reads it from the stored measurement: when the check
failed, any verdict but "accessible" is *inconclusive* with the check's reason.

    ok              a control name resolved with the resolver and a control host answered
    resolver_fails  the resolver fails for the control names too (the second resolver answers,
                    or the network carries TCP): "the resolver fails for everything"
    network_down    no control host answers: "this network is down"
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lightsout.probe.config import Endpoint, ProbeConfig
from lightsout.probe.netx import Trace, connect, lookup

ANNOTATION = "lightsout_network_check"
REASON_ANNOTATION = "lightsout_network_check_reason"
MAX_CONNECTS = 4  # control addresses tried before the network is judged down


class NetworkState(enum.StrEnum):
    OK = "ok"
    RESOLVER_FAILS = "resolver_fails"
    NETWORK_DOWN = "network_down"


@dataclass(frozen=True, slots=True)
class NetworkCheck:
    state: NetworkState
    reason: str  # one sentence naming the names, resolvers and addresses tried

    @property
    def ok(self) -> bool:
        return self.state is NetworkState.OK

    def annotations(self) -> dict[str, str]:
        return {ANNOTATION: self.state.value, REASON_ANNOTATION: self.reason}


def _resolve_any(config: ProbeConfig, resolver: Endpoint, trace: Trace) -> tuple[list[str], list[str]]:
    """Addresses of the control names by ``resolver``, and the failures seen (``name: failure``)."""
    addresses: list[str] = []
    failures: list[str] = []
    for name in config.network_check.names:
        for query_type in config.query_types:
            record = lookup(trace, name, query_type, resolver, config.timeouts.dns_s)
            if record.addresses:
                addresses.extend(a for a in record.addresses if a not in addresses)
            elif record.failure:
                failures.append(f"{name} {query_type}: {record.failure}")
        if addresses:
            break
    return addresses, failures


def _connects(config: ProbeConfig, addresses: list[str], port: int, trace: Trace) -> tuple[bool, list[str]]:
    failures: list[str] = []
    for ip in addresses[:MAX_CONNECTS]:
        record, sock = connect(trace, ip, port, config.timeouts.connect_s, trace.next_id())
        if sock is not None:
            sock.close()
            return True, failures
        failures.append(f"{Endpoint(ip, port)}: {record.failure}")
    return False, failures


def check_network(config: ProbeConfig, resolver: Endpoint) -> NetworkCheck:
    """Check the resolver and the network with the control names (see the module docstring)."""
    settings = config.network_check
    trace = Trace()
    names = ", ".join(settings.names)
    addresses, failures = _resolve_any(config, resolver, trace)
    second = settings.second_resolver
    if addresses:
        reached, refused = _connects(config, addresses, settings.port, trace)
        if reached:
            return NetworkCheck(
                NetworkState.OK, f"control names ({names}) resolve with {resolver} and answer"
            )
        return NetworkCheck(
            NetworkState.NETWORK_DOWN,
            f"this network is down: the control hosts ({names}) do not answer ({'; '.join(refused[:3])})",
        )
    first_failure = failures[0] if failures else "no answer"
    if second is None or second == resolver:
        return NetworkCheck(
            NetworkState.NETWORK_DOWN,
            f"this network is down or the resolver fails for everything: no control name ({names}) "
            f"resolves with {resolver} ({first_failure}) and no second resolver is configured",
        )
    other, other_failures = _resolve_any(config, second, trace)
    if other:
        reached, refused = _connects(config, other, settings.port, trace)
        if reached:
            return NetworkCheck(
                NetworkState.RESOLVER_FAILS,
                f"the resolver {resolver} fails for everything: the control names ({names}) fail there "
                f"({first_failure}) while the second resolver {second} answers",
            )
        return NetworkCheck(
            NetworkState.NETWORK_DOWN,
            f"this network is down: the control hosts ({names}) do not answer ({'; '.join(refused[:3])})",
        )
    carried, _ = _connects(config, [second.ip], second.port, trace)
    if carried:
        return NetworkCheck(
            NetworkState.RESOLVER_FAILS,
            f"the resolvers fail for everything: no control name ({names}) resolves with {resolver} "
            f"({first_failure}) nor with {second}, though {second} accepts TCP connections",
        )
    second_failure = other_failures[0] if other_failures else "no answer"
    return NetworkCheck(
        NetworkState.NETWORK_DOWN,
        f"this network is down: no control name ({names}) resolves with {resolver} ({first_failure}) nor "
        f"with {second} ({second_failure}), and {second} accepts no connection",
    )
