"""Digest authentication (b2bua.sip.digest): published examples, the server's
nonce and replay rules on virtual time, the client, and a never-raises property."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.sip.digest import (
    AuthResult,
    Challenge,
    DigestServer,
    authorization,
    authorization_for_challenges,
    credentials_for,
    find_credentials,
    parse_auth_params,
    parse_challenge,
    pick_challenge,
    response_digest,
)
from b2bua.sip.errors import ParseError

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "b2bua"
RURI = "sip:b2bua.example.com"
USERS = {"1001": "secret1001", "1002": "secret1002"}


def password_for(name: str) -> str | None:
    return USERS.get(name)


def server(**kw: object) -> DigestServer:
    """Both algorithms, SHA-256 first, unless a test says otherwise."""
    kw.setdefault("algorithms", ("SHA-256", "MD5"))
    return DigestServer(REALM, SECRET, 300.0, **kw)  # type: ignore[arg-type]


def answer(srv: DigestServer, now: float, *, user: str = "1001", password: str | None = None,
           nc: int = 1, method: str = "REGISTER", uri: str = RURI, index: int = 0) -> str:
    ch = parse_challenge(srv.challenge(now)[index])
    return authorization(ch, method, uri, user, password or USERS.get(user, "x"), "cn0nce", nc)


# -- published examples ---------------------------------------------------------------


def test_rfc2617_section_3_5_md5_qop_auth() -> None:
    ch = parse_challenge(
        'Digest\r\n realm="testrealm@host.com",\r\n qop="auth,auth-int",\r\n'
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert ch == Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        algorithm="MD5",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    value = authorization(ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1)
    _, p = parse_auth_params(value)
    assert p["response"] == "6629fae49393a05397450978507c4ef1"
    assert p["nc"] == "00000001" and p["qop"] == "auth" and p["cnonce"] == "0a4f113b"
    assert p["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"


RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


@pytest.mark.parametrize(
    "alg, expected",
    [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_section_3_9_1(alg: str, expected: str) -> None:
    ch = parse_challenge(RFC7616_CHALLENGE.format(alg=alg))
    value = authorization(
        ch, "GET", "/dir/index.html", "Mufasa", "Circle of Life", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1
    )
    _, p = parse_auth_params(value)
    assert p["response"] == expected
    assert p["algorithm"] == alg


def test_sess_and_rfc2069_formulas() -> None:
    import hashlib

    def h(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    legacy = response_digest("MD5", "u", "r", "p", "GET", "/x", "n")
    assert legacy == h(f"{h('u:r:p')}:n:{h('GET:/x')}")
    sess = response_digest("MD5-sess", "u", "r", "p", "GET", "/x", "n", qop="auth", nc="00000001", cnonce="c")
    ha1 = h(f"{h('u:r:p')}:n:c")
    assert sess == h(f"{ha1}:n:00000001:c:auth:{h('GET:/x')}")


# -- the parser -------------------------------------------------------------------------


def test_parse_auth_params_tolerates_lws_escapes_and_commas_in_quotes() -> None:
    scheme, p = parse_auth_params(
        '  Digest   username = "a\\"b" ,realm="x, y",,  nonce=abc/+=, uri="sip:1@h;transport=tcp" ,'
    )
    assert scheme == "Digest"
    assert p == {"username": 'a"b', "realm": "x, y", "nonce": "abc/+=", "uri": "sip:1@h;transport=tcp"}
    assert parse_auth_params("Digest") == ("Digest", {})
    assert parse_auth_params("Digest QOP=auth")[1] == {"qop": "auth"}


@pytest.mark.parametrize(
    "bad",
    ["", "   ", 'Digest realm="unterminated', "Digest realm", "Digest realm=", 'Digest a="x" b="y"',
     "Digest a=1, a=2", 'Digest a="x\\', "=x", 'Digest ="x"', "Dig\"est a=b"],
)
def test_parse_auth_params_rejects(bad: str) -> None:
    with pytest.raises(ParseError):
        parse_auth_params(bad)


# -- server: challenges -----------------------------------------------------------------


def test_challenges_offer_sha256_before_md5_with_one_fresh_nonce() -> None:
    srv = server()
    values = srv.challenge(10.0)
    assert [parse_challenge(v).algorithm for v in values] == ["SHA-256", "MD5"]
    chs = [parse_challenge(v) for v in values]
    assert all(c.qop == ("auth",) and c.realm == REALM and c.opaque == srv.opaque for c in chs)
    assert chs[0].nonce == chs[1].nonce
    assert not any(c.stale for c in chs)
    assert parse_challenge(srv.challenge(10.0)[0]).nonce != chs[0].nonce  # same instant, new nonce
    assert all(parse_challenge(v).stale for v in srv.challenge(11.0, stale=True))
    assert "stale=true" in srv.challenge(11.0, stale=True)[1]


def test_the_default_is_md5_alone_which_phones_and_sipp_can_answer() -> None:
    srv = DigestServer(REALM, SECRET, 300.0)
    assert [parse_challenge(v).algorithm for v in srv.challenge(0.0)] == ["MD5"]
    sha = authorization(parse_challenge(server().challenge(0.0)[0]), "REGISTER", RURI, "1001", USERS["1001"], "c", 1)
    assert "algorithm=SHA-256" in sha
    assert srv.verify("REGISTER", sha, password_for, 1.0, RURI).reason == "unsupported algorithm"


def test_per_user_algorithms_in_challenge_and_verification() -> None:
    srv = DigestServer(REALM, SECRET, 300.0)
    mine = {"1001": ("SHA-256",)}
    values = srv.challenge(0.0, algorithms=mine["1001"])
    assert [parse_challenge(v).algorithm for v in values] == ["SHA-256"]
    sha = authorization(parse_challenge(values[0]), "REGISTER", RURI, "1001", USERS["1001"], "c", 1)
    md5 = authorization(parse_challenge(srv.challenge(0.0)[0]), "REGISTER", RURI, "1001", USERS["1001"], "c", 1)
    # 1001 is held to SHA-256: an MD5 answer is a downgrade
    assert srv.verify("REGISTER", md5, password_for, 1.0, RURI, algorithms_for=mine.get).reason == "unsupported algorithm"
    assert srv.verify("REGISTER", sha, password_for, 1.0, RURI, algorithms_for=mine.get).ok
    # 1002 has no list of its own: the server's
    md5_2 = authorization(parse_challenge(srv.challenge(0.0)[0]), "REGISTER", RURI, "1002", USERS["1002"], "c", 1)
    assert srv.verify("REGISTER", md5_2, password_for, 1.0, RURI, algorithms_for=mine.get).ok


def test_algorithms_are_configurable() -> None:
    srv = server(algorithms=("MD5",))
    assert [parse_challenge(v).algorithm for v in srv.challenge(0.0)] == ["MD5"]
    # a SHA-256 answer is refused when SHA-256 was not offered (no downgrade games)
    other = server()
    ch = parse_challenge(srv.challenge(0.0)[0])
    sha = authorization(Challenge(realm=REALM, nonce=ch.nonce, algorithm="SHA-256", qop=("auth",)),
                        "REGISTER", RURI, "1001", USERS["1001"], "c", 1)
    assert srv.verify("REGISTER", sha, password_for, 1.0, RURI).reason == "unsupported algorithm"
    assert other.algorithms == ("SHA-256", "MD5")
    with pytest.raises(ValueError):
        DigestServer(REALM, SECRET, 300.0, algorithms=("SHA-512",))
    with pytest.raises(ValueError):
        DigestServer(REALM, b"", 300.0)


# -- server: verification -----------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])  # SHA-256 and MD5
def test_round_trip_client_to_server(index: int) -> None:
    srv = server()
    value = answer(srv, 100.0, index=index)
    assert srv.verify("REGISTER", value, password_for, 101.0, RURI) == AuthResult(
        ok=True, username="1001", stale=False, reason="ok"
    )
    # the same nonce with the next nc is fine
    value2 = answer_same_nonce(value, nc=2)
    assert srv.verify("REGISTER", value2, password_for, 102.0, RURI).ok


def answer_same_nonce(value: str, *, nc: int, user: str = "1001", method: str = "REGISTER") -> str:
    _, p = parse_auth_params(value)
    ch = Challenge(realm=p["realm"], nonce=p["nonce"], algorithm=p["algorithm"], qop=("auth",), opaque=p.get("opaque"))
    return authorization(ch, method, p["uri"], user, USERS[user], p["cnonce"], nc)


def test_wrong_password_and_unknown_user() -> None:
    srv = server()
    r = srv.verify("REGISTER", answer(srv, 0.0, password="nope"), password_for, 1.0, RURI)
    assert r == AuthResult(ok=False, username="1001", stale=False, reason="wrong password")
    r = srv.verify("REGISTER", answer(srv, 0.0, user="9999"), password_for, 1.0, RURI)
    assert r == AuthResult(ok=False, username="9999", stale=False, reason="unknown user")


def test_method_is_part_of_the_digest() -> None:
    srv = server()
    value = answer(srv, 0.0, method="INVITE")
    assert srv.verify("REGISTER", value, password_for, 1.0, RURI).reason == "wrong password"
    assert srv.verify("INVITE", value, password_for, 1.0, RURI).ok


def test_uri_must_match_the_request_uri() -> None:
    srv = server()
    value = answer(srv, 0.0, uri="sip:other.example.com")
    assert srv.verify("REGISTER", value, password_for, 1.0, RURI).reason == "uri mismatch"
    assert srv.verify("REGISTER", value, password_for, 1.0, " sip:other.example.com ").ok


OWN = [("127.0.0.1", 5080), ("::1", 5080)]


@pytest.mark.parametrize(
    "digest_uri, ok",
    [
        ("sip:127.0.0.1:5080", True),  # SIPp's default: our own address
        ("sip:127.0.0.1;transport=UDP", True),  # pyVoIP: our host, no port
        ("sip:[::1]:5080", True),
        ("sip:127.0.0.1:5081", False),  # another port
        ("sip:192.0.2.9:5080", False),  # another host
        ("sip:2125551234@127.0.0.1:5080", False),  # another number than the one called
        ("sip:1002@127.0.0.1:5080", True),  # the Request-URI itself
    ],
)
def test_a_digest_uri_names_the_request_or_this_server(digest_uri: str, ok: bool) -> None:
    srv = server()
    value = answer(srv, 0.0, method="INVITE", uri=digest_uri)
    r = srv.verify("INVITE", value, password_for, 1.0, "sip:1002@127.0.0.1:5080", own=OWN)
    assert r.ok is ok and (ok or r.reason == "uri mismatch")


def test_stale_nonce_after_lifetime() -> None:
    srv = server()
    value = answer(srv, 1000.0)
    assert srv.verify("REGISTER", value, password_for, 1000.0 + 299.9, RURI).ok
    late = answer_same_nonce(value, nc=2)
    r = srv.verify("REGISTER", late, password_for, 1000.0 + 300.0, RURI)
    assert r == AuthResult(ok=False, username="1001", stale=True, reason="nonce expired")
    # a wrong password on an expired nonce is not stale: the digest proves nothing
    bad = answer(srv, 1000.0, password="nope")
    assert srv.verify("REGISTER", bad, password_for, 2000.0, RURI).stale is False


def test_replayed_or_lower_nonce_count_is_refused() -> None:
    srv = server()
    value = answer(srv, 0.0)
    assert srv.verify("REGISTER", value, password_for, 1.0, RURI).ok
    r = srv.verify("REGISTER", value, password_for, 2.0, RURI)
    assert (r.ok, r.reason, r.stale) == (False, "nonce replayed", True)
    assert srv.verify("REGISTER", answer_same_nonce(value, nc=5), password_for, 3.0, RURI).ok
    assert srv.verify("REGISTER", answer_same_nonce(value, nc=3), password_for, 4.0, RURI).reason == "nonce replayed"
    assert srv.verify("REGISTER", answer_same_nonce(value, nc=6), password_for, 5.0, RURI).ok


def test_failed_attempts_do_not_advance_the_nonce_count() -> None:
    srv = server()
    good = answer(srv, 0.0)
    _, p = parse_auth_params(good)
    forged = good.replace(p["response"], "0" * len(p["response"])).replace("nc=00000001", "nc=00000009")
    assert srv.verify("REGISTER", forged, password_for, 1.0, RURI).reason == "wrong password"
    assert srv.verify("REGISTER", good, password_for, 1.0, RURI).ok


def test_replay_table_forgets_expired_nonces_and_is_capped() -> None:
    srv = server(max_nonces=3)
    values = [answer(srv, float(t)) for t in range(5)]
    for t, v in enumerate(values):
        assert srv.verify("REGISTER", v, password_for, float(t) + 0.5, RURI).ok
    assert srv.tracked_nonces == 3
    # the first two were evicted early: refused (stale) rather than replayable
    r = srv.verify("REGISTER", answer_same_nonce(values[0], nc=2), password_for, 10.0, RURI)
    assert (r.reason, r.stale) == ("nonce forgotten", True)
    assert srv.verify("REGISTER", answer_same_nonce(values[4], nc=2), password_for, 10.0, RURI).ok
    srv.challenge(1000.0)  # every nonce has expired by now
    assert srv.tracked_nonces == 0


def test_tampered_nonce_and_nonce_from_another_secret() -> None:
    srv = server()
    value = answer(srv, 0.0)
    _, p = parse_auth_params(value)
    raw = bytearray(base64.urlsafe_b64decode(p["nonce"] + "="))
    raw[3] ^= 0x01  # move the timestamp
    tampered_nonce = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    # only the nonce edited: the digest no longer matches either
    r = srv.verify("REGISTER", value.replace(p["nonce"], tampered_nonce), password_for, 1.0, RURI)
    assert r == AuthResult(ok=False, username="1001", stale=False, reason="bad nonce")
    # digest recomputed by someone who knows the password: refused, but stale
    # (that is also what a phone holding a nonce from before a restart sees)
    ch = Challenge(realm=REALM, nonce=tampered_nonce, algorithm="SHA-256", qop=("auth",), opaque=srv.opaque)
    tampered = authorization(ch, "REGISTER", RURI, "1001", USERS["1001"], "c", 1)
    assert srv.verify("REGISTER", tampered, password_for, 1.0, RURI) == AuthResult(
        ok=False, username="1001", stale=True, reason="bad nonce"
    )
    assert srv.tracked_nonces == 0

    stranger = DigestServer(REALM, b"another secret, another process", 300.0)
    foreign = answer(stranger, 0.0)
    _, fp = parse_auth_params(foreign)
    foreign = foreign.replace(f'opaque="{fp["opaque"]}"', f'opaque="{srv.opaque}"')
    r = srv.verify("REGISTER", foreign, password_for, 1.0, RURI)
    assert (r.ok, r.reason) == (False, "bad nonce")
    wrong = answer(stranger, 0.0, password="nope").replace(f'opaque="{fp["opaque"]}"', f'opaque="{srv.opaque}"')
    assert srv.verify("REGISTER", wrong, password_for, 1.0, RURI).stale is False

    made_up = authorization(Challenge(realm=REALM, nonce="abc", qop=("auth",)), "REGISTER", RURI, "1001",
                            USERS["1001"], "c", 1)
    assert srv.verify("REGISTER", made_up, password_for, 1.0, RURI).reason == "bad nonce"


def test_realm_opaque_qop_and_algorithm_checks() -> None:
    srv = server()
    value = answer(srv, 0.0)
    assert srv.verify("REGISTER", value.replace('realm="b2bua"', 'realm="other"'), password_for, 1.0,
                      RURI).reason == "realm mismatch"
    assert srv.verify("REGISTER", value.replace(srv.opaque, "x" * 32), password_for, 1.0,
                      RURI).reason == "opaque mismatch"
    assert srv.verify("REGISTER", value.replace("qop=auth", "qop=auth-int"), password_for, 1.0,
                      RURI).reason == "unsupported qop"
    assert srv.verify("REGISTER", value.replace("algorithm=SHA-256", "algorithm=SHA-512"), password_for, 1.0,
                      RURI).reason == "unsupported algorithm"
    assert srv.verify("REGISTER", value.replace("Digest", "Basic"), password_for, 1.0,
                      RURI).reason == "unsupported scheme"
    assert srv.verify("REGISTER", value.replace("nc=00000001", "nc=zz"), password_for, 1.0,
                      RURI).reason == "malformed credentials"
    assert srv.verify("REGISTER", 'Digest username="1001"', password_for, 1.0, RURI) == AuthResult(
        ok=False, username="1001", reason="malformed credentials"
    )
    assert srv.verify("REGISTER", "Digest realm=", password_for, 1.0, RURI) == AuthResult(
        ok=False, reason="malformed credentials"
    )


def test_rfc2069_answer_without_qop_serves_one_request() -> None:
    srv = server()
    ch = parse_challenge(srv.challenge(0.0)[1])
    old_phone = authorization(Challenge(realm=ch.realm, nonce=ch.nonce, algorithm="MD5"), "INVITE", RURI, "1002",
                              USERS["1002"], "unused", 1)
    assert "qop" not in parse_auth_params(old_phone)[1]
    assert srv.verify("INVITE", old_phone, password_for, 1.0, RURI).ok
    # a captured credential cannot be used again (no nc to tell replays apart)
    r = srv.verify("INVITE", old_phone, password_for, 2.0, RURI)
    assert (r.ok, r.reason, r.stale) == (False, "nonce replayed", True)
    # nor upgraded to qop=auth on the same nonce
    with_qop = authorization(Challenge(realm=ch.realm, nonce=ch.nonce, algorithm="MD5", qop=("auth",)), "INVITE",
                             RURI, "1002", USERS["1002"], "c", 1)
    assert srv.verify("INVITE", with_qop, password_for, 3.0, RURI).reason == "nonce replayed"
    assert srv.verify("INVITE", old_phone, password_for, 300.0, RURI).stale
    strict = server(allow_rfc2069=False)
    ch = parse_challenge(strict.challenge(0.0)[1])
    old_phone = authorization(Challenge(realm=ch.realm, nonce=ch.nonce), "REGISTER", RURI, "1002",
                              USERS["1002"], "unused", 1)
    assert strict.verify("REGISTER", old_phone, password_for, 1.0, RURI).reason == "qop required"


def test_only_a_few_credentials_of_our_realm_are_considered() -> None:
    srv = server()
    wrong = [answer(srv, 0.0, password=f"guess{i}") for i in range(249)]
    right = answer(srv, 0.0)
    other = right.replace('realm="b2bua"', 'realm="elsewhere"')
    assert credentials_for([other, *wrong, right], REALM) == wrong[:2]
    assert credentials_for([other, right], REALM) == [right]
    assert credentials_for(["Basic abc", other], REALM) == []


def test_find_credentials_picks_our_realm() -> None:
    ours = 'Digest username="1001", realm="b2bua", nonce="n", uri="sip:x", response="r"'
    theirs = 'Digest username="1001", realm="carrier", nonce="n", uri="sip:x", response="r"'
    assert find_credentials([theirs, "garbage\"", ours], REALM) == ours
    assert find_credentials([theirs], REALM) is None


# -- client ------------------------------------------------------------------------------


def test_pick_challenge_prefers_sha256_and_skips_unusable() -> None:
    md5 = 'Digest realm="carrier", nonce="n1", algorithm=MD5, qop="auth"'
    sha = 'Digest realm="carrier", nonce="n2", algorithm=SHA-256, qop="auth"'
    odd = 'Digest realm="carrier", nonce="n3", algorithm=SHA-512-256, qop="auth"'
    assert pick_challenge([md5, sha]).nonce == "n2"  # type: ignore[union-attr]
    assert pick_challenge([odd, "Basic realm=x", 'Digest realm="x', md5]).nonce == "n1"  # type: ignore[union-attr]
    assert pick_challenge([odd, "Basic realm=x"]) is None
    assert pick_challenge([]) is None
    with pytest.raises(ParseError):
        authorization_for_challenges([odd], "INVITE", "sip:1@h", "u", "p", "c")
    with pytest.raises(ParseError):
        authorization(parse_challenge(odd), "INVITE", "sip:1@h", "u", "p", "c", 1)


def test_client_quotes_and_carries_opaque_and_sess() -> None:
    ch = parse_challenge('Digest realm="car\\"rier", nonce="n", algorithm=md5-sess, qop="auth-int", stale=TRUE, '
                         'opaque="o"')
    assert (ch.algorithm, ch.qop, ch.stale, ch.realm) == ("MD5-sess", ("auth-int",), True, 'car"rier')
    value = authorization(ch, "INVITE", "sip:1@h", 'we"ird', "p", "cn", 0x1F, body=b"v=0\r\n")
    _, p = parse_auth_params(value)
    assert p["username"] == 'we"ird' and p["realm"] == 'car"rier'
    assert p["qop"] == "auth-int" and p["nc"] == "0000001f" and p["opaque"] == "o"
    assert p["response"] == response_digest("MD5-sess", 'we"ird', 'car"rier', "p", "INVITE", "sip:1@h", "n",
                                            qop="auth-int", nc="0000001f", cnonce="cn", body=b"v=0\r\n")


def test_client_answers_our_own_server_through_authorization_for_challenges() -> None:
    srv = server()
    value = authorization_for_challenges(srv.challenge(5.0), "INVITE", "sip:2000@b2bua", "1001", USERS["1001"],
                                         "tag123")
    assert parse_auth_params(value)[1]["algorithm"] == "SHA-256"
    assert srv.verify("INVITE", value, password_for, 6.0, "sip:2000@b2bua").ok


# -- property ----------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    ['Digest ', 'username="1001"', "realm=", '"b2bua"', "nonce=", "uri=", RURI, "response=", "nc=", "00000001",
     "qop=auth", "algorithm=SHA-256", "algorithm=MD5-sess", "cnonce=", "opaque=", ", ", ",", '"', "\\", " ", "=",
     "userhash=true", "username*=", "\udcff", "\ud800", "0" * 64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), st.lists(st.one_of(_FRAGMENTS, st.text(max_size=5)), max_size=30).map("".join)),
       st.text(max_size=20), st.text(max_size=30))
def test_verify_never_raises(credentials: str, method: str, uri: str) -> None:
    srv = server()
    srv.challenge(0.0)
    result = srv.verify(method, credentials, password_for, 1.0, uri)
    assert isinstance(result, AuthResult) and not result.ok


@settings(max_examples=200)
@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=5)), max_size=30).map("".join))
def test_parsers_raise_only_parse_error(value: str) -> None:
    for fn in (parse_auth_params, parse_challenge):
        try:
            fn(value)
        except ParseError:
            pass
    pick_challenge([value])
