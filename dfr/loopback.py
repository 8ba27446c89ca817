"""Loopback: whether an address is this machine only, and free ports on 127.0.0.1 for the
tests and the benchmarks (they talk over loopback only)."""

from __future__ import annotations

import ipaddress
import random
import socket

LOOPBACK = "127.0.0.1"


def free_udp_port() -> int:
    """A UDP port on loopback nobody is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def free_tcp_port() -> int:
    """A TCP port on loopback nobody is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def free_udp_block(count: int) -> int:
    """A base port with `count` consecutive UDP ports free on loopback right now."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count)
        sockets = []
        try:
            for offset in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind((LOOPBACK, base + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"no block of {count} free UDP ports on {LOOPBACK}")


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") is this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
