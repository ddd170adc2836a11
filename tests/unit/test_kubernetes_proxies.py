"""The Kubernetes example trusts the ingress controller's addresses only, not a whole private range: every address
trusted can claim to forward for anyone (its own rate-limit bucket, any audit address)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

CONFIGMAP = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "configmap.yaml"
# A node's pod range (/24) is the widest that can hold only a dedicated ingress node pool's pods.
MOST_ADDRESSES = 256


def test_the_example_trusts_no_network_wider_than_a_node_pod_range() -> None:
    (value,) = re.findall(r"^  HTTP_TRUSTED_PROXIES: *(.+)$", CONFIGMAP.read_text(), re.MULTILINE)
    networks = [ipaddress.ip_network(entry.strip().strip('"'), strict=False) for entry in value.split(",")]
    assert networks
    assert [str(n) for n in networks if n.num_addresses > MOST_ADDRESSES] == []
