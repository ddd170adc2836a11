"""Types shared by the generated query modules in app/db/queries/."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
import asyncpg.pool

if TYPE_CHECKING:
    # A plain connection or one borrowed from a pool (`async with pool.acquire() as conn`).
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    # At runtime (Litestar's dependency injection, msgspec) it must be one class, and asyncpg's metaclass makes
    # isinstance(pool_proxy, asyncpg.Connection) true. The stubs' classes are not subscriptable at runtime.
    Connection = asyncpg.Connection

# Borrows a pooled connection for the duration of an `async with` (Services.connection).
ConnectionSource: TypeAlias = Callable[[], AbstractAsyncContextManager[Connection]]


# asyncpg decodes inet to an address, or to an interface when the value has a prefix length.
Inet: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Interface | ipaddress.IPv6Interface
# asyncpg decodes cidr to a network.
Cidr: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
# Parameters: asyncpg encodes any ipaddress value, or a string PostgreSQL can parse.
InetParam: TypeAlias = Inet | Cidr | str
CidrParam: TypeAlias = Cidr | ipaddress.IPv4Address | ipaddress.IPv6Address | str
