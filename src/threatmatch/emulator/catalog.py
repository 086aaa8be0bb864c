"""Reference tables for realistic generated indicators: feeds, itypes, words, networks, tags.

Feed names, itypes and threat types follow public ThreatStream material (see the API spec, section 4);
the numeric feed ids and organisation numbers are made up but stable.
"""

from __future__ import annotations

from dataclasses import dataclass

# itype -> threat_type (ThreatStream pairs seen in public data; ssh_ip is "brute", torrent trackers "p2p").
THREAT_OF_ITYPE: dict[str, str] = {
    "scan_ip": "scan", "c2_ip": "c2", "mal_ip": "malware", "bot_ip": "bot", "brute_ip": "brute", "ssh_ip": "brute",
    "spam_ip": "spam", "tor_ip": "tor", "apt_ip": "apt", "compromised_ip": "compromised", "i2p_ip": "i2p",
    "proxy_ip": "anonymization", "exploit_ip": "exploit", "phish_ip": "phish", "parked_ip": "parked",
    "mal_ipv6": "malware", "scan_ipv6": "scan", "c2_domain": "c2", "mal_domain": "malware",
    "phish_domain": "phish", "spam_domain": "spam", "apt_domain": "apt", "suspicious_domain": "suspicious",
    "dyn_dns": "suspicious", "parked_domain": "parked", "c2_url": "c2", "mal_url": "malware",
    "phish_url": "phish", "apt_url": "apt", "exploit_url": "exploit", "torrent_tracker_url": "p2p",
    "phish_email": "phish", "spam_email": "spam", "mal_email": "malware", "apt_email": "apt",
    "mal_md5": "malware", "apt_md5": "apt", "phish_md5": "phish", "trojan_md5": "trojan",
    "mal_ssdeep": "malware", "mal_file_name": "malware", "mal_mutex": "malware",
}

ITYPE_TYPE: dict[str, str] = {
    itype: ("ipv6" if itype.endswith("_ipv6") else "domain" if itype in ("dyn_dns",) or itype.endswith("_domain")
            else "ip" if itype.endswith("_ip") else "url" if itype.endswith("_url")
            else "email" if itype.endswith("_email") else "md5" if itype.endswith("_md5") else "string")
    for itype in THREAT_OF_ITYPE
}


@dataclass(frozen=True)
class Feed:
    """One intelligence source: its id, name, owning organisation and what it publishes."""

    feed_id: int
    source: str
    owner_organization_id: int | None
    weight: int
    itypes: tuple[tuple[str, int], ...]
    is_public: bool = True
    imported_by: str = "imported by user 1"
    compact: bool = False  # omits null geo/session keys, as some real payloads do


FEEDS: tuple[Feed, ...] = (
    Feed(0, "Analyst", 67, 6, (("apt_domain", 3), ("apt_ip", 3), ("apt_url", 2), ("apt_email", 1),
                                 ("apt_md5", 2), ("c2_ip", 2), ("phish_email", 1), ("mal_ssdeep", 1)),
         is_public=False, imported_by="imported by user 136", compact=True),
    Feed(0, "Default Organization", 1, 4, (("mal_domain", 3), ("phish_url", 3), ("mal_md5", 3), ("c2_domain", 2),
                                           ("mal_file_name", 1), ("suspicious_domain", 1), ("mal_mutex", 1))),
    Feed(42, "Anomali Threat Research", 1, 8, (("c2_domain", 3), ("c2_ip", 3), ("mal_url", 2), ("mal_md5", 3),
                                               ("apt_domain", 1), ("mal_ipv6", 1), ("mal_email", 1))),
    Feed(1103, "DShield Scanning IPs", None, 14, (("scan_ip", 10), ("scan_ipv6", 1))),
    Feed(1750, "Blocklist.de SSH", None, 8, (("ssh_ip", 6), ("brute_ip", 3))),
    Feed(2763, "PhishTank", None, 9, (("phish_url", 8), ("phish_domain", 2))),
    Feed(3012, "Emerging Threats - Compromised IPs", None, 8, (("compromised_ip", 1),)),
    Feed(3310, "OpenPhish", None, 5, (("phish_url", 4), ("phish_domain", 1), ("phish_ip", 1))),
    Feed(4551, "Tor Exit Nodes", None, 4, (("tor_ip", 1),)),
    Feed(5220, "URLhaus", None, 9, (("mal_url", 6), ("exploit_url", 1), ("mal_ip", 1))),
    Feed(6104, "MalwareBazaar Hashes", None, 10, (("mal_md5", 6), ("trojan_md5", 1), ("mal_ssdeep", 1))),
    Feed(7310, "Spamhaus DBL", None, 5, (("spam_domain", 5), ("spam_ip", 2), ("spam_email", 1), ("dyn_dns", 1))),
    Feed(8800, "ThreatFox IOCs", None, 7, (("c2_ip", 3), ("c2_domain", 3), ("mal_url", 2), ("bot_ip", 1))),
    Feed(9241, "Abuse.ch Feodo Tracker", None, 3, (("c2_ip", 1),)),
)

TLDS = (("com", 30), ("net", 8), ("org", 5), ("ru", 6), ("xyz", 5), ("top", 5), ("info", 4), ("cn", 3),
        ("online", 3), ("site", 3), ("io", 2), ("biz", 2), ("club", 2), ("de", 2), ("br", 2), ("in", 2),
        ("co", 2), ("me", 1), ("best", 1), ("icu", 2), ("live", 1), ("shop", 2), ("su", 1), ("tk", 1), ("cc", 1))
WORDS = (
    "secure", "login", "update", "account", "verify", "cloud", "mail", "support", "service", "online", "portal",
    "bank", "pay", "wallet", "office", "micro", "soft", "app", "data", "sync", "cdn", "static", "api", "track",
    "delivery", "parcel", "invoice", "docs", "drive", "share", "file", "host", "net", "web", "link", "go", "my",
    "best", "free", "win", "prize", "crypto", "coin", "trade", "market", "shop", "store", "deal", "news", "media",
    "stream", "game", "play", "zone", "hub", "lab", "tech", "sys", "global", "east", "west", "north", "alpha",
    "nova", "star", "blue", "red", "green", "dark", "fast", "smart", "auth", "id", "sso", "gate", "box", "now",
)
SUBDOMAINS = ("www", "mail", "cdn", "login", "secure", "update", "api", "app", "static", "m", "webmail", "portal")
URL_PATHS = (
    "/", "/index.php", "/login.php", "/wp-content/uploads/{n}/invoice.php", "/wp-admin/css/colors/{w}.exe",
    "/gate.php", "/admin/panel.php", "/bins/mozi.m", "/bins/{w}.x86", "/files/invoice_{n}.doc",
    "/{w}/verify", "/{w}/signin/index.html", "/dl/{w}.zip", "/update/{w}.bin", "/api/v1/{w}", "/{w}.js",
    "/secure/{w}/auth?id={n}", "/{n}/{w}.hta", "/docs/{w}.pdf.exe", "/track?ref={n}",
)
FREEMAIL = ("gmail.com", "outlook.com", "yahoo.com", "mail.ru", "yandex.ru", "protonmail.com", "qq.com", "gmx.de")
FIRST = ("john", "anna", "mike", "li", "olga", "david", "maria", "ahmed", "chen", "alex", "sara", "ivan",
         "paul", "nina", "tom", "eva", "raj", "yuki", "omar", "lena")
LAST = ("smith", "ivanov", "wang", "garcia", "mueller", "kim", "nguyen", "silva", "khan", "rossi", "brown")
FILE_NAMES = ("svchost.exe", "invoice.pdf.exe", "update.bin", "AdobeUpdate.exe", "chrome_update.msi",
              "Users\\Public\\Libraries\\run.dll", "tmp\\Cab{n}.tmp", "payload.ps1", "loader.dll", "document.hta")
MUTEXES = ("Global\\{w}_{n}", "Local\\{w}Mutex", "{w}{n}", "MSCTF.Shared.MUTEX.{n}")

# (asn, org, country, latitude, longitude) for resolved addresses.
NETWORKS = (
    ("24940", "Hetzner Online GmbH", "DE", 51.2993, 9.491),
    ("16509", "Amazon.com, Inc.", "US", 39.0481, -77.4728),
    ("14061", "DigitalOcean, LLC", "US", 40.793, -74.0247),
    ("4837", "CHINA UNICOM China169 Backbone", "CN", 34.7725, 113.7266),
    ("45102", "Alibaba (US) Technology Co., Ltd.", "CN", 30.2936, 120.1614),
    ("9009", "M247 Europe SRL", "RO", 44.4268, 26.1025),
    ("16276", "OVH SAS", "FR", 50.6942, 3.1746),
    ("51167", "Contabo GmbH", "DE", 49.4521, 11.0767),
    ("13335", "Cloudflare, Inc.", "US", 37.751, -97.822),
    ("8075", "Microsoft Corporation", "US", 47.6062, -122.3321),
    ("60781", "LeaseWeb Netherlands B.V.", "NL", 52.3824, 4.8995),
    ("12389", "PJSC Rostelecom", "RU", 55.7386, 37.6068),
    ("4134", "Chinanet", "CN", 39.9288, 116.3889),
    ("20473", "The Constant Company, LLC", "US", 40.7357, -74.1724),
    ("49505", "OOO Network of data-centers Selectel", "RU", 59.8944, 30.2642),
    ("7922", "Comcast Cable Communications, LLC", "US", 38.6582, -77.2497),
    ("9299", "Philippine Long Distance Telephone Company", "PH", 14.5995, 120.9842),
    ("200019", "AlexHost SRL", "MD", 47.0056, 28.8575),
)
TAG_NAMES = ("MalSpam", "Emotet", "QakBot", "Cobalt Strike", "AsyncRAT", "AgentTesla", "RedLine", "LockBit",
             "Mirai", "phishing", "scanner", "ssh-bruteforce", "TOR", "Log4Shell", "botnet", "c2", "IcedID",
             "FormBook", "Raccoon", "njRAT", "Kaspersky_Phishing_URL_Exact_Feed", "popularity=low")
MALTYPES = ("Emotet", "TrickBot", "AgentTesla", "RedLine Stealer", "LockBit", "Mirai", "QakBot", "Ursnif")
SEVERITIES = (("low", 3), ("medium", 4), ("high", 3), ("very-high", 2))
TLPS = ((None, 12), ("amber", 4), ("green", 2), ("red", 1), ("clear", 1), ("amber+strict", 1))
DESCRIPTIONS = ("Observed in phishing campaign", "C2 beacon destination", "Hosting malware payload",
                "Reported by partner ISAC", "Scanning for exposed services")
