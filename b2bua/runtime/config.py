"""Configuration: TOML decoded with msgspec into frozen structs.

An unknown key, a wrong type or a bad value is a :class:`ConfigError` whose
message names the ``$.path`` of the offending value; the server refuses to
start with it (exit status 2).  With no file, the embedded defaults apply:
listen on 127.0.0.1:5060 over UDP and TCP, data in ./b2bua-data.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from b2bua.billing.rating import RatePlan
from b2bua.sip.endpoint import Address
from dialplan.numbering import NorthAmericanPlan, NumberingPlan
from dialplan.policy import GroupPolicy, Mode


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the $.path."""


def parse_listen(text: str) -> Address:
    """``udp:HOST:PORT`` / ``tcp:[::1]:5060`` -> Address."""
    transport, sep, rest = text.partition(":")
    transport = transport.lower()
    if not sep or transport not in ("udp", "tcp"):
        raise ValueError(f"listen address {text!r} must start with udp: or tcp:")
    if rest.startswith("["):
        host, _, port_text = rest[1:].partition("]")
        if not port_text.startswith(":"):
            raise ValueError(f"listen address {text!r} needs a port: {transport}:[HOST]:PORT")
        port_text = port_text[1:]
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise ValueError(f"listen address {text!r} needs a port: {transport}:HOST:PORT")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"listen address {text!r}: {host!r} is not an IP address") from None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"listen address {text!r}: bad port {port_text!r}")
    return Address(transport, host, int(port_text))


Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    listen: list[str] = msgspec.field(default_factory=lambda: ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"])
    data_dir: str = "b2bua-data"
    # administrative data (account codes, settings, administrators, audit log):
    # "" = the SQLite file in data_dir; postgresql://... = shared by every node there
    database: str = ""
    user_agent: str = "b2bua"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # seconds live calls get at SIGTERM/SIGINT to be ended (BYE, 503/CANCEL), their
    # records closed and their credit settled before the server exits
    shutdown_timeout: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    # days the audit log keeps an entry (0: forever); older ones are deleted daily
    audit_retention_days: Annotated[int, msgspec.Meta(ge=0, le=36500)] = 400

    def __post_init__(self) -> None:
        if not self.listen:
            raise ValueError("at least one listen address is needed")
        if self.database and not self.database.startswith(("postgresql://", "postgres://")):
            raise ValueError("database: a postgresql:// URL, or empty for the SQLite file in data_dir")
        for item in self.listen:
            parse_listen(item)

    @property
    def addresses(self) -> list[Address]:
        return [parse_listen(x) for x in self.listen]


class SipConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # digest realm for phones (RFC 3261 §22)
    realm: str = "b2bua"
    # digest algorithms offered, preferred first (RFC 8760).  MD5 alone by
    # default, as Asterisk, FreeSWITCH and Kamailio: SIPp, pyVoIP, baresip and
    # many phones read only the first challenge and cannot answer SHA-256.
    # A user's own list (users.digest_algorithms) replaces it for that user.
    digest_algorithms: list[Literal["SHA-256", "MD5"]] = msgspec.field(default_factory=lambda: ["MD5"])
    # 401 (as Asterisk does) or 407 (as FreeSWITCH does) to challenge INVITEs
    invite_challenge: Literal[401, 407] = 401
    # seconds a nonce stays valid before it is answered with stale=true
    nonce_lifetime: Annotated[int, msgspec.Meta(ge=10, le=86400)] = 300
    # registration expiry bounds, seconds (RFC 3261 §10.2.8, 423 below min)
    min_expires: Annotated[int, msgspec.Meta(ge=1, le=86400)] = 60
    max_expires: Annotated[int, msgspec.Meta(ge=1, le=604800)] = 3600
    # a call not answered within this many seconds is cancelled (480 to the caller)
    no_answer_timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    # an answered call is ended after this many seconds
    max_call_duration: Annotated[float, msgspec.Meta(gt=0, le=7 * 86400)] = 4 * 3600.0
    # session refresh interval, seconds (RFC 4028; at least 90)
    session_interval: Annotated[float, msgspec.Meta(ge=90, le=86400)] = 1800.0
    # offer reliable provisional responses (RFC 3262, Supported: 100rel) to callees
    offer_100rel: bool = True
    # a callee's 3xx: "follow" its Contacts (new forks, best q first) or "relay" it to the caller
    redirect: Literal["follow", "relay"] = "follow"
    # redirect targets followed per call at most (a redirect chain or loop ends there)
    max_redirects: Annotated[int, msgspec.Meta(ge=0, le=20)] = 5
    # shed new calls with 503 while the event loop runs this many seconds late
    # (smoothed; back to normal below a third of it); 0 turns shedding off
    overload_lag: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.15
    t1: Seconds = 0.5  # RFC 3261 §17.1.1.1
    t2: Seconds = 4.0
    t4: Seconds = 5.0
    # seconds a failed INVITE's transaction absorbs the callee's retransmitted final
    # response on UDP (Timer D); unset: 32 or 64*T1, whichever is longer (RFC 3261)
    timer_d: Seconds | None = None
    max_tcp_connections: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 20)] = 65_535

    def __post_init__(self) -> None:
        if self.t2 < self.t1:
            raise ValueError("t2 must not be smaller than t1")


Digits = Annotated[str, msgspec.Meta(pattern=r"^[0-9*#+]{1,32}$")]


class UserConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A SIP account: a phone registers and calls with these credentials."""

    extension: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2,15}$")]
    password: Annotated[str, msgspec.Meta(min_length=1)]
    display_name: str = ""
    group: str = "default"  # business group
    department: str = ""
    # username used in digest auth; the extension when empty
    username: str = ""
    # account codes: a mode instead of the group's, and a code every call of
    # this user carries (assigned to the SIP account)
    account_code_mode: Mode | None = None
    account_code: str | None = None
    # digest algorithms for this user instead of [sip] digest_algorithms
    # (e.g. ["SHA-256"] for a phone that supports it: MD5 is then refused)
    digest_algorithms: list[Literal["SHA-256", "MD5"]] | None = None

    @property
    def auth_name(self) -> str:
        return self.username or self.extension


class TrunkConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A carrier trunk: where outbound calls go and whose calls are trusted inbound."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 5060
    transport: Literal["udp", "tcp"] = "udp"
    # source addresses recognised as this trunk for inbound calls
    inbound: list[str] = []
    # outbound number rewriting: strip N leading digits, then prepend
    strip: Annotated[int, msgspec.Meta(ge=0, le=32)] = 0
    prepend: Annotated[str, msgspec.Meta(pattern=r"^[0-9*#+]{0,32}$")] = ""
    # digest credentials answered on 401/407 from the carrier
    username: str = ""
    password: str = ""
    # inbound DID -> extension
    dids: dict[str, str] = {}
    # a trusted trunk (e.g. another PBX) may pass the account code of its calls
    # in an X-Account-Code header or an ac= Request-URI parameter
    pass_account_code: bool = False
    # calls from this trunk to numbers that are not DIDs are routed out like a
    # phone's, under this business group's account-code policy ("" = no)
    group: str = ""
    # inbound trust beyond the source address, which a UDP sender can forge:
    # "digest" challenges the trunk's calls for username/password above;
    # inbound_transport "tcp" refuses its calls over UDP
    inbound_auth: Literal["none", "digest"] = "none"
    inbound_transport: Literal["any", "tcp"] = "any"
    # may this trunk's calls (with a group) go out through a trunk? (toll fraud
    # if its address is forged); calls to extensions and DIDs need no transit
    allow_transit: bool = False

    def __post_init__(self) -> None:
        if self.inbound_auth == "digest" and not (self.username and self.password):
            raise ValueError(f"trunk {self.name!r}: inbound_auth = \"digest\" needs username and password")
        for cidr in self.inbound:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"trunk {self.name!r}: bad inbound network {cidr!r}") from None
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ValueError(f"trunk {self.name!r}: host {self.host!r} must be an IP address") from None


class RouteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Outbound route: dialed numbers starting with ``prefix`` go to ``trunk``."""

    prefix: Annotated[str, msgspec.Meta(pattern=r"^[0-9*#+]{0,32}$")]
    trunk: str


class LockoutConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Guessing protection: after ``max_failures`` wrong codes within ``window``
    seconds from one extension (``address_max_failures`` from one source
    address of a trunk or unauthenticated source), further attempts are
    refused without evaluation for ``lockout`` seconds; emergency and service
    calls never are."""

    max_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    window: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 300.0
    lockout: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 900.0
    # a source address (trunks, unauthenticated sources) locks only after this
    # many; a whole office may sit behind one NAT address (default 10 x max_failures)
    address_max_failures: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class SecurityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Guessing protection for SIP passwords (digest credentials of REGISTER
    and INVITE), per username and source address: ``auth_max_failures``
    wrong credentials within ``auth_window`` seconds lock that pair for
    ``auth_lockout`` seconds, each further lock ``auth_lockout_growth``
    times longer up to ``auth_lockout_max``.  A locked pair gets the answer
    of a wrong password even for the right one; emergency and service calls
    still pass.  ``auth_guard = false`` turns it off."""

    auth_guard: bool = True
    auth_max_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    auth_window: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 600.0
    auth_lockout: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 300.0
    auth_lockout_growth: Annotated[float, msgspec.Meta(ge=1, le=100)] = 2.0
    auth_lockout_max: Annotated[float, msgspec.Meta(gt=0, le=7 * 86400)] = 3600.0

    def __post_init__(self) -> None:
        if self.auth_lockout_max < self.auth_lockout:
            raise ValueError("auth_lockout_max must not be below auth_lockout")


class BillingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Call detail records, rating and prepaid credit (see b2bua.billing)."""

    # "" = SQLite file billing.sqlite3 in server.data_dir; a path; or postgresql://...
    database: str = ""
    # seconds between interim updates of an answered call's record (what a crash loses at most)
    interim_interval: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    # currency of unrated calls' records (each plan names its own)
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] = "EUR"
    # the plan for calls whose code and group name none ("" = calls are not rated)
    default_rate_plan: str = ""
    # [[billing.rate_plans]]: name, currency, rates (prefix, price_per_minute,
    # increment_s, minimum_s, setup), class_defaults {call class = rate}
    rate_plans: list[RatePlan] = []
    # business group -> rate plan; a code's own plan overrides its group's
    group_rate_plans: dict[str, str] = {}
    # prepaid calls: seconds of talk reserved at a time
    credit_chunk: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 60
    # this server's name when several share one PostgreSQL database: at start-up
    # each one closes only the records its own crash left open
    node: Annotated[str, msgspec.Meta(max_length=64)] = ""
    # the caller's 2xx is relayed only once the answer is on disk (group commit,
    # a few ms of setup time), so a crash cannot lose an answered call's record
    durable_answer: bool = True
    # the office's time zone (an IANA name): what a day is in reports, charts, the
    # record search's dates, exports' times and ``b2bua report``
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"timezone: {self.timezone[:64]!r} is not an IANA time zone name"
                             " (like 'Europe/Paris' or 'UTC')") from None
        names: set[str] = set()
        for plan in self.rate_plans:
            if plan.name in names:
                raise ValueError(f"rate plan {plan.name!r} is defined twice")
            names.add(plan.name)
        # default_rate_plan and group_rate_plans may name a plan of the billing database
        # alone: checked at start against the plans read from it (b2bua.runtime.plan_rules)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def plans(self) -> dict[str, RatePlan]:
        return {p.name: p for p in self.rate_plans}


class MediaConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The server's own RTP endpoint, used to prompt callers for account codes
    (b2bua.runtime.prompts).  ``address``: the IP address put in the server's SDP
    and bound for RTP ("" = the first SIP listening address); ``rtp_first`` ..
    ``rtp_last``: the UDP port range (even ports are used, one per prompted call);
    ``tones``: "north_american" or "itu" (ITU-T E.180, 425 Hz); ``sounds_dir``: a
    directory whose 8 kHz WAV files replace the shipped announcements of the same
    name ("" = ``sounds`` in the data directory)."""

    enabled: bool = True
    address: str = ""
    rtp_first: Annotated[int, msgspec.Meta(ge=1024, le=65534)] = 20000
    rtp_last: Annotated[int, msgspec.Meta(ge=1025, le=65535)] = 20999
    tones: Literal["north_american", "itu"] = "north_american"
    sounds_dir: str = ""
    # keep a prompted call's media through the server once the callee answers (the
    # server relays RTP both ways) instead of re-offering both ends to each other
    anchor: bool = False
    # seconds between RTCP receiver reports on a prompt's stream (RFC 3550 §6.4.2); 0: none
    rtcp_interval: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0

    def __post_init__(self) -> None:
        if self.rtp_last <= self.rtp_first:
            raise ValueError("media.rtp_last must be above media.rtp_first")


def parse_http_listen(text: str) -> Address:
    """``HOST:PORT`` / ``[::1]:8080`` -> a TCP Address (port 0: any free port)."""
    try:
        return parse_listen("tcp:" + text)
    except ValueError:
        raise ValueError(f"http listen address {text!r} must be HOST:PORT with an IP address (IPv6: [::1]:8080)") from None


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The administration portal and ``/metrics``, served in the SIP server's own
    process and event loop (``b2bua.web``)."""

    enabled: bool = True
    listen: str = "127.0.0.1:8080"
    # TLS: both files (PEM) or neither; with TLS the session cookie is Secure
    certfile: str = ""
    keyfile: str = ""
    # seconds a portal session lasts without use, and at most
    session_idle: Annotated[float, msgspec.Meta(ge=60, le=7 * 86400)] = 1800.0
    session_max: Annotated[float, msgspec.Meta(ge=60, le=30 * 86400)] = 12 * 3600.0
    # login throttling: wrong passwords per administrator name (and
    # login_address_max_failures per source address) within login_window
    # seconds lock further logins for login_lockout seconds
    login_max_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    login_address_max_failures: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20
    login_window: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 900.0
    login_lockout: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 900.0
    # largest CSV upload accepted (bytes)
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 << 20)] = 2 << 20
    # /metrics: a bearer token scrapers must send (at least 16 characters), and/or
    # the source addresses or networks allowed to scrape; neither: open to all
    metrics_token: Annotated[str, msgspec.Meta(max_length=256)] = ""
    metrics_allow: Annotated[list[str], msgspec.Meta(max_length=100)] = []

    def __post_init__(self) -> None:
        parse_http_listen(self.listen)
        if self.metrics_token and (len(self.metrics_token) < 16 or not self.metrics_token.isascii()
                                   or not self.metrics_token.isprintable() or " " in self.metrics_token):
            raise ValueError("metrics_token: at least 16 printable ASCII characters, no spaces")
        for net in self.metrics_allow:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"metrics_allow: {net!r} is no IP address or network") from None
        if bool(self.certfile) != bool(self.keyfile):
            raise ValueError("TLS needs both certfile and keyfile (or neither)")

    @property
    def address(self) -> Address:
        return parse_http_listen(self.listen)

    @property
    def tls(self) -> bool:
        return bool(self.certfile)


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    server: ServerConfig = ServerConfig()
    http: HttpConfig = HttpConfig()
    sip: SipConfig = SipConfig()
    users: list[UserConfig] = []
    trunks: list[TrunkConfig] = []
    routes: list[RouteConfig] = []
    # how dialed numbers are classified (kind = "nanp" or "e164")
    numbering: NumberingPlan = NorthAmericanPlan()
    # account-code policy per business group; users name their group
    groups: dict[str, GroupPolicy] = {}
    lockout: LockoutConfig = LockoutConfig()
    security: SecurityConfig = SecurityConfig()
    billing: BillingConfig = BillingConfig()
    media: MediaConfig = MediaConfig()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for u in self.users:
            if u.extension in seen:
                raise ValueError(f"extension {u.extension} is defined twice in users")
            seen.add(u.extension)
            if self.groups and u.group not in self.groups:
                raise ValueError(f"user {u.extension}: group {u.group!r} is not defined in groups")
        names = {t.name for t in self.trunks}
        if len(names) != len(self.trunks):
            raise ValueError("trunk names must be unique")
        for r in self.routes:
            if r.trunk not in names:
                raise ValueError(f"route {r.prefix!r} names unknown trunk {r.trunk!r}")
        for t in self.trunks:
            if t.group and t.group not in self.groups:
                raise ValueError(f"trunk {t.name!r}: group {t.group!r} is not defined in groups")
            for did, ext in t.dids.items():
                if ext not in seen:
                    raise ValueError(f"trunk {t.name!r}: DID {did} rings unknown extension {ext}")
        if self.groups:
            for group in self.billing.group_rate_plans:
                if group not in self.groups:
                    raise ValueError(f"billing.group_rate_plans: group {group!r} is not defined in groups")


DEFAULT = Config()


def load(path: str | Path) -> Config:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read configuration: {err.strerror}") from None
    return loads(data, str(path))


def loads(data: bytes | str, name: str = "<config>") -> Config:
    try:
        return msgspec.toml.decode(data, type=Config)
    except msgspec.ValidationError as err:
        text = str(err)
        if " - at `$" not in text:  # msgspec names no path for the top level
            text += " - at `$`"
        raise ConfigError(f"{name}: {text}") from None
    except msgspec.DecodeError as err:
        raise ConfigError(f"{name}: not valid TOML: {err}") from None


def with_listen(config: Config, listen: list[str]) -> Config:
    """Command-line --listen overrides the file."""
    try:
        server = msgspec.structs.replace(config.server, listen=listen)
        server.__post_init__()
    except ValueError as err:
        raise ConfigError(f"--listen: {err}") from None
    return msgspec.structs.replace(config, server=server)


def with_http_listen(config: Config, listen: str) -> Config:
    """Command-line --http-listen overrides the file (``off``: no HTTP server)."""
    if listen == "off":
        return msgspec.structs.replace(config, http=msgspec.structs.replace(config.http, enabled=False))
    try:
        http = msgspec.structs.replace(config.http, listen=listen)
        http.__post_init__()
    except ValueError as err:
        raise ConfigError(f"--http-listen: {err}") from None
    return msgspec.structs.replace(config, http=http)
