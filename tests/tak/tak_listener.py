"""A TAK-like listener for the tests, on 127.0.0.1: TLS that demands a client certificate
(as TAK Server's port 8089 does), plain TCP, or UDP; every CoT event it receives parsed.
And a throwaway certificate authority, with server and client certificates, made with
`cryptography` into a test's folder."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"


# -- certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client's."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path, name: str = "test", key_passphrase: str | None = None) -> Pki:
    """A CA named `name`, a server certificate for 127.0.0.1 and a client certificate,
    both signed by it (the client's key encrypted with `key_passphrase` when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} TAK CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca_cert": folder / f"{name}-ca.pem",
        "server_cert": folder / f"{name}-server.pem",
        "server_key": folder / f"{name}-server.key",
        "client_cert": folder / f"{name}-client.pem",
        "client_key": folder / f"{name}-client.key",
    }
    paths["ca_cert"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {who}")])
        builder = _builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if who == "server":
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        paths[f"{who}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        secret = key_passphrase if who == "client" else None
        encryption = (
            serialization.BestAvailableEncryption(secret.encode())
            if secret
            else serialization.NoEncryption()
        )
        paths[f"{who}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
        )
    return Pki(**paths)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def server_context(pki: Pki, client_ca: Path | None = None) -> ssl.SSLContext:
    """TAK Server's side: its certificate, and a client certificate signed by
    `client_ca` (default: the PKI's own CA) demanded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=client_ca or pki.ca_cert)
    return context


# -- the listener ---------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event: ET.Element
    at_monotonic_s: float

    @property
    def type(self) -> str:
        return self.event.get("type", "")

    @property
    def uid(self) -> str:
        return self.event.get("uid", "")

    def point(self) -> tuple[float, float]:
        point = self.event.find("point")
        assert point is not None
        return float(point.get("lat", "nan")), float(point.get("lon", "nan"))

    def time(self, name: str = "time") -> dt.datetime:
        return dt.datetime.fromisoformat(self.event.get(name, ""))


@dataclass
class TakListener:
    """What arrived: every event parsed, connections accepted and refused."""

    port: int
    events: list[Received] = field(default_factory=list)
    connections: int = 0  # streams accepted (after the TLS handshake, for TLS)
    malformed: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, raw: bytes) -> None:
        try:
            event = ET.fromstring(raw)
        except ET.ParseError:
            self.malformed += 1
            return
        self.events.append(Received(event, time.monotonic()))
        self._arrived.set()

    def of(self, predicate: Callable[[Received], bool]) -> list[Received]:
        return [r for r in self.events if predicate(r)]

    async def wait_for(
        self, what: str, predicate: Callable[[Received], bool], timeout_s: float, count: int = 1
    ) -> list[Received]:
        """The events `predicate` takes, once there are `count` of them."""
        try:
            async with asyncio.timeout(timeout_s):
                while len(found := self.of(predicate)) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            types = sorted({r.type for r in self.events})
            raise AssertionError(
                f"{what}: {len(self.of(predicate))} of {count} within {timeout_s:g} s "
                f"({len(self.events)} event(s) of types {types} arrived, "
                f"{self.connections} connection(s))"
            ) from None
        return found


@contextlib.asynccontextmanager
async def stream_listener(
    port: int = 0, context: ssl.SSLContext | None = None
) -> AsyncIterator[TakListener]:
    """TCP (TLS with `context`) on 127.0.0.1:`port` (0: a free one) while the block runs."""
    listener = TakListener(port)
    connections: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        listener.connections += 1
        buffer = b""
        try:
            while data := await reader.read(65536):
                buffer += data
                while (end := buffer.find(b"</event>")) >= 0:
                    listener.take(buffer[: end + len(b"</event>")].strip())
                    buffer = buffer[end + len(b"</event>") :]
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            connections.discard(task)
            writer.close()

    server = await asyncio.start_server(serve, HOST, port, ssl=context)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: TakListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.listener.take(data)


@contextlib.asynccontextmanager
async def udp_listener() -> AsyncIterator[TakListener]:
    """UDP on 127.0.0.1, a free port: one CoT event a datagram, as ATAK takes them."""
    listener = TakListener(0)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(listener), local_addr=(HOST, 0)
    )
    listener.port = transport.get_extra_info("sockname")[1]
    try:
        yield listener
    finally:
        transport.close()
