"""A certificate made at test time for the https listeners, and the flag that makes Chromium trust it.

The key and a self-signed certificate (names ``a.test``, ``*.a.test``, ``b.test``, ``localhost``,
``127.0.0.1``) are generated with ``cryptography`` into a temporary folder. Chromium is told to
trust exactly this key with ``--ignore-certificate-errors-spki-list=<sha256 of its
SubjectPublicKeyInfo>``: no CA is installed anywhere, every other certificate error still fails,
and the page is a real https page, a secure context, to which Secure-cookie rules apply as to any
other (see ``tests/test_browser_cookies.py``, which checks that the browser keeps Secure and
``__Host-`` cookies there and refuses them over http).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NAMES = ("a.test", "*.a.test", "b.test", "*.b.test", "localhost")


@dataclass(frozen=True)
class Certificate:
    cert_path: Path
    key_path: Path
    spki_sha256: str  # base64 of the SHA-256 of the DER SubjectPublicKeyInfo: Chromium's pin format

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def chromium_flag(self) -> str:
        return f"--ignore-certificate-errors-spki-list={self.spki_sha256}"


def make_certificate(folder: Path) -> Certificate:
    """A fresh P-256 key and a self-signed certificate for the test host names, valid for a week."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wsgisession browser tests")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName([*(x509.DNSName(host) for host in NAMES),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Certificate(cert_path, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii"))
