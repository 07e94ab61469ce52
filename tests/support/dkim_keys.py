"""A DKIM key made for a test, and the DNS zone that publishes it (dkimpy's TXT lookup)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def dkim_key(domain: str, selector: str = "mail2024") -> tuple[bytes, dict[bytes, bytes]]:
    """(the private key as PEM, {TXT name: record}) for `selector._domainkey.domain`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name = f"{selector}._domainkey.{domain}.".encode()
    return private, {name: b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)}
