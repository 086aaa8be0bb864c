"""Indicator scanners follow Panther's V1 rules (with canonical IPs) and are idempotent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from threatmatch.logtypes.scanners import KNOWN_INDICATORS, canonical_ip, scan_value, url_host


class TestAddresses:
    def test_ip_is_trimmed_validated_and_canonical(self) -> None:
        """IPs are trimmed, validated and stored in canonical form (our deliberate V1 difference)."""
        assert scan_value(("ip",), " 2001:DB8::0:1 ") == {"p_any_ip_addresses": ["2001:db8::1"]}
        assert scan_value(("ip",), "10.0.0.1") == {"p_any_ip_addresses": ["10.0.0.1"]}
        assert scan_value(("ip",), "010.0.0.1") == {}
        assert scan_value(("ip",), "256.1.1.1") == {}
        assert scan_value(("ip",), "example.com") == {}

    def test_bracketed_ipv6_and_zone(self) -> None:
        """Bracketed IPv6 is accepted; a non-address with colons is not."""
        assert canonical_ip("[::1]") == "::1"
        assert canonical_ip("a:b:c") is None

    def test_hostname_routes_to_ip_or_domain(self) -> None:
        """A hostname value goes to ip when it is an address, else to domain; text with spaces to neither."""
        assert scan_value(("hostname",), "1.2.3.4") == {"p_any_ip_addresses": ["1.2.3.4"]}
        assert scan_value(("hostname",), "Mail.Example.COM") == {"p_any_domain_names": ["Mail.Example.COM"]}
        assert scan_value(("hostname",), "AWS Internal") == {}

    def test_domain_decodes_punycode_and_keeps_case(self) -> None:
        """Punycode labels are decoded to Unicode; the rest stays as written."""
        assert scan_value(("domain",), "xn--bcher-kva.Example") == {"p_any_domain_names": ["bücher.Example"]}

    def test_url_host(self) -> None:
        """URL hosts lose scheme, user info, port and brackets; text without an authority yields nothing."""
        assert url_host("https://user:pw@Example.com:8443/a?b#c") == "Example.com"
        assert url_host("http://[2001:db8::1]:80/") == "2001:db8::1"
        assert url_host("//cdn.example.net/x") == "cdn.example.net"
        assert url_host("example.com/path") is None
        assert scan_value(("url",), "http://10.1.2.3/x") == {"p_any_ip_addresses": ["10.1.2.3"]}

    def test_net_addr_splits_host_and_port(self) -> None:
        """host:port and [v6]:port give the host; a bare IPv6 stays whole."""
        assert scan_value(("net_addr",), "10.0.0.1:8080") == {"p_any_ip_addresses": ["10.0.0.1"]}
        assert scan_value(("net_addr",), "[::1]:443") == {"p_any_ip_addresses": ["::1"]}
        assert scan_value(("net_addr",), "fe80::1") == {"p_any_ip_addresses": ["fe80::1"]}
        assert scan_value(("net_addr",), "web-1:80") == {"p_any_domain_names": ["web-1"]}


class TestHashesAndIds:
    def test_hashes_are_lower_cased_by_length(self) -> None:
        """md5/sha1/sha256 need the right length of hex and are lower-cased."""
        assert scan_value(("md5",), "D41D8CD98F00B204E9800998ECF8427E") == {
            "p_any_md5_hashes": ["d41d8cd98f00b204e9800998ecf8427e"]}
        assert scan_value(("sha1",), "d41d8cd98f00b204e9800998ecf8427e") == {}
        assert scan_value(("sha256",), "g" * 64) == {}

    def test_sysmon_hash_list(self) -> None:
        """The hashes extension routes ALG=HEX pairs and skips IMPHASH; colon fingerprints work too."""
        md5, sha256 = "a" * 32, "B" * 64
        got = scan_value(("hashes",), f"SHA256={sha256},MD5={md5},IMPHASH={'c' * 32}")
        assert got == {"p_any_sha256_hashes": ["b" * 64], "p_any_md5_hashes": [md5]}
        assert scan_value(("hashes",), ":".join(["ab"] * 20)) == {"p_any_sha1_hashes": ["ab" * 20]}

    def test_arn_yields_account_instance_and_session_email(self) -> None:
        """An ARN adds its 12-digit account, an EC2 instance id and an e-mail session name."""
        got = scan_value(("aws_arn",), "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc")
        assert got == {"p_any_aws_arns": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"],
                       "p_any_aws_account_ids": ["123456789012"], "p_any_aws_instance_ids": ["i-0abc"]}
        got = scan_value(("aws_arn",), "arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com")
        assert got["p_any_emails"] == ["jane@example.com"]
        assert scan_value(("aws_arn",), "arn:aws:s3") == {}

    def test_account_and_instance_ids(self) -> None:
        """Account ids are exactly 12 digits; instance ids start with i-."""
        assert scan_value(("aws_account_id",), "123456789012") == {"p_any_aws_account_ids": ["123456789012"]}
        assert scan_value(("aws_account_id",), "12345678901") == {}
        assert scan_value(("aws_instance_id",), "i-1") == {"p_any_aws_instance_ids": ["i-1"]}
        assert scan_value(("aws_instance_id",), "ami-1") == {}

    def test_verbatim_fields(self) -> None:
        """Emails need an @; user names and trace ids are trimmed; empty values are dropped."""
        assert scan_value(("email",), " Bob@Example.com ") == {"p_any_emails": ["Bob@Example.com"]}
        assert scan_value(("email",), "bob") == {}
        assert scan_value(("username",), "  alice ") == {"p_any_usernames": ["alice"]}
        assert scan_value(("trace_id", "actor_id", "mac", "serial_number"), "   ") == {}


@given(st.sampled_from(KNOWN_INDICATORS), st.text(max_size=80))
def test_scanners_never_raise_and_are_idempotent(name: str, text: str) -> None:
    """Any text scans without error, and scanning an output value again yields that value."""
    found = scan_value((name,), text)
    for field, values in found.items():
        assert values == sorted(set(values)) and all(values)
        if name in ("ip", "domain", "md5", "sha1", "sha256", "email", "username", "trace_id", "aws_account_id"):
            for value in values:
                assert scan_value((name,), value)[field] == [value]


def _dotted_quad_reference(text: str) -> str | None:
    """The written-out IPv4 rule: four parts of 1-3 ASCII digits, each <= 255, no leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not part or len(part) > 3 or not part.isascii() or not part.isdigit():
            return None
        if (part[0] == "0" and len(part) > 1) or int(part) > 255:
            return None
    return text


@given(st.text(alphabet="0123456789.٣ \x00x", max_size=20) | st.from_regex(r"\A\d{1,4}(\.\d{1,4}){3}\Z"))
def test_ipv4_check_is_the_strict_dotted_quad_rule(text: str) -> None:
    """IPv4 validation (inet_pton) accepts exactly the strict dotted quads of the written-out rule."""
    assert canonical_ip(text) == _dotted_quad_reference(text)
