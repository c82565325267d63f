"""OIDC tokens against a local issuer: RSA keys made here, the JWKS served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from guard.github.oidc import (
    BadSignatureError,
    ForbiddenError,
    InvalidTokenError,
    IssuerUnavailableError,
    KeySet,
    MalformedTokenError,
    OidcVerifier,
    OwnerNotAllowedError,
    RepositoryMismatchError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownKeyError,
    WrongAlgorithmError,
    WrongAudienceError,
    WrongIssuerError,
)
from tests.oidc_issuer import (
    AUDIENCE,
    NOW,
    OWNER,
    REPOSITORY,
    REPOSITORY_ID,
    Clock,
    Issuer,
    hs256_with_public_key,
    local_issuer,
    new_key,
    unsigned_token,
)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with local_issuer() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verifier_for(issuer: Issuer, clock: Clock, owners: tuple[str, ...] = (OWNER,)) -> OidcVerifier:
    return OidcVerifier(issuer.url, audience=AUDIENCE, allowed_owners=owners, clock=clock)


def test_a_valid_token_names_its_repository_by_id(issuer: Issuer, clock: Clock) -> None:
    identity = verifier_for(issuer, clock).verify(issuer.token())

    assert identity.repository == REPOSITORY
    assert identity.repository_id == REPOSITORY_ID
    assert identity.owner == OWNER
    assert identity.sha == "a" * 40
    assert identity.ref == "refs/heads/main"
    assert identity.environment == "production"
    # The key set came from the discovery document, once.
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_the_key_set_is_cached_between_tokens(issuer: Issuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock)
    for _ in range(3):
        verifier.verify(issuer.token())

    assert issuer.jwks_fetches == 1


def test_without_discovery_the_well_known_jwks_is_used(clock: Clock) -> None:
    with local_issuer(discovery=False) as issuer:
        identity = verifier_for(issuer, clock).verify(issuer.token())

    assert identity.repository == REPOSITORY
    assert issuer.jwks_fetches == 1


def test_a_key_set_the_discovery_puts_elsewhere_is_not_trusted(
    issuer: Issuer, clock: Clock
) -> None:
    # Whoever serves keys elsewhere must not mint tokens for this issuer.
    issuer.jwks_uri = "http://127.0.0.2:9/.well-known/jwks"

    identity = verifier_for(issuer, clock).verify(issuer.token())

    assert identity.repository == REPOSITORY
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_an_expired_token_is_refused_after_the_leeway(issuer: Issuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock)
    token = issuer.token(exp=int(NOW) - 30)
    # 30 s past exp is inside the 60 s leeway.
    assert verifier.verify(token).repository == REPOSITORY

    clock.advance(31)
    with pytest.raises(TokenExpiredError) as raised:
        verifier.verify(token)

    assert raised.value.reason == "expired"
    assert raised.value.http_status == 401
    assert "request a fresh one" in raised.value.message


def test_a_token_from_the_future_is_refused(issuer: Issuer, clock: Clock) -> None:
    with pytest.raises(TokenNotYetValidError):
        verifier_for(issuer, clock).verify(issuer.token(nbf=int(NOW) + 120, iat=int(NOW) + 120))


def test_a_token_for_another_audience_is_refused(issuer: Issuer, clock: Clock) -> None:
    with pytest.raises(WrongAudienceError) as raised:
        verifier_for(issuer, clock).verify(issuer.token(aud="https://github.com/octo-org"))

    assert raised.value.reason == "wrong_audience"
    assert AUDIENCE in raised.value.message


def test_an_audience_list_holding_ours_is_accepted(issuer: Issuer, clock: Clock) -> None:
    token = issuer.token(aud=["https://github.com/octo-org", AUDIENCE])

    assert verifier_for(issuer, clock).verify(token).repository_id == REPOSITORY_ID


def test_a_token_of_another_issuer_is_refused(issuer: Issuer, clock: Clock) -> None:
    with pytest.raises(WrongIssuerError) as raised:
        verifier_for(issuer, clock).verify(
            issuer.token(iss="https://token.actions.githubusercontent.com")
        )

    assert raised.value.reason == "wrong_issuer"


def test_alg_none_is_refused_before_any_key_is_fetched(issuer: Issuer, clock: Clock) -> None:
    token = unsigned_token(issuer.claims(), issuer.key.kid)

    with pytest.raises(WrongAlgorithmError) as raised:
        verifier_for(issuer, clock).verify(token)

    assert raised.value.reason == "wrong_algorithm"
    assert issuer.jwks_fetches == 0


def test_hs256_signed_with_the_public_key_is_refused(issuer: Issuer, clock: Clock) -> None:
    token = hs256_with_public_key(issuer.claims(), issuer.key)
    # The forgery names the real key: a verifier that let the token pick the algorithm
    # would check an HMAC keyed with that key's public PEM, which anyone can compute.
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "key-1"}

    with pytest.raises(WrongAlgorithmError):
        verifier_for(issuer, clock).verify(token)


def test_a_signature_by_another_key_with_a_known_kid_is_refused(
    issuer: Issuer, clock: Clock
) -> None:
    impostor = new_key(issuer.key.kid)

    with pytest.raises(BadSignatureError) as raised:
        verifier_for(issuer, clock).verify(issuer.token(impostor))

    assert raised.value.reason == "bad_signature"


def test_an_unknown_kid_makes_one_refetch_and_a_rotated_key_is_then_accepted(
    issuer: Issuer, clock: Clock
) -> None:
    verifier = verifier_for(issuer, clock)
    verifier.verify(issuer.token())
    rotated = new_key("key-2")
    issuer.publish(rotated)

    identity = verifier.verify(issuer.token(rotated))

    assert identity.repository == REPOSITORY
    assert issuer.jwks_fetches == 2


def test_a_kid_still_unknown_after_the_refetch_is_refused(issuer: Issuer, clock: Clock) -> None:
    verifier = verifier_for(issuer, clock)
    verifier.verify(issuer.token())
    stranger = new_key("never-published")

    with pytest.raises(UnknownKeyError) as first:
        verifier.verify(issuer.token(stranger))
    # Within the cooldown another unknown kid does not reach the issuer again.
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.token(stranger))
    assert issuer.jwks_fetches == 2

    clock.advance(31)
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.token(stranger))
    assert issuer.jwks_fetches == 3
    assert first.value.reason == "unknown_key"
    assert first.value.http_status == 401


def test_an_owner_not_allowed_is_forbidden_not_unauthorized(issuer: Issuer, clock: Clock) -> None:
    token = issuer.token(repository="evil-corp/shop", repository_owner="evil-corp")

    with pytest.raises(OwnerNotAllowedError) as raised:
        verifier_for(issuer, clock).verify(token)

    assert isinstance(raised.value, ForbiddenError)
    assert raised.value.http_status == 403
    assert "evil-corp" in raised.value.message


def test_owners_compare_without_case(issuer: Issuer, clock: Clock) -> None:
    identity = verifier_for(issuer, clock, owners=("OCTO-ORG",)).verify(issuer.token())

    assert identity.owner == OWNER


def test_an_empty_allow_list_serves_nobody(issuer: Issuer, clock: Clock) -> None:
    with pytest.raises(OwnerNotAllowedError) as raised:
        verifier_for(issuer, clock, owners=()).verify(issuer.token())

    assert "GUARD_OIDC_ALLOWED_OWNERS" in raised.value.message


def test_the_repository_is_matched_by_id_not_by_name(issuer: Issuer, clock: Clock) -> None:
    # The same name, a different repository: deleted and re-created by someone else.
    identity = verifier_for(issuer, clock).verify(issuer.token())
    identity.require_repository_id(REPOSITORY_ID)

    with pytest.raises(RepositoryMismatchError) as raised:
        identity.require_repository_id(REPOSITORY_ID + 1)

    assert raised.value.http_status == 403
    assert str(REPOSITORY_ID) in raised.value.message


def test_sub_is_never_what_names_the_repository(issuer: Issuer, clock: Clock) -> None:
    token = issuer.token(sub="repo:octo-org@99/shop@4242:environment:production")

    identity = verifier_for(issuer, clock).verify(token)

    assert (identity.repository, identity.repository_id) == (REPOSITORY, REPOSITORY_ID)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "a.b", "a.b.c", "x" * 20_000 + ".b.c"],
)
def test_malformed_tokens_say_so(issuer: Issuer, clock: Clock, token: str) -> None:
    with pytest.raises(MalformedTokenError) as raised:
        verifier_for(issuer, clock).verify(token)

    assert raised.value.reason == "malformed"


@pytest.mark.parametrize("claim", ["repository_id", "repository", "repository_owner", "exp"])
def test_a_token_missing_an_identity_claim_is_malformed(
    issuer: Issuer, clock: Clock, claim: str
) -> None:
    with pytest.raises(MalformedTokenError) as raised:
        verifier_for(issuer, clock).verify(issuer.token(**{claim: None}))

    assert claim in raised.value.message


def test_a_token_without_a_kid_is_malformed(issuer: Issuer, clock: Clock) -> None:
    token = jwt.encode(issuer.claims(), issuer.key.private, algorithm="RS256")

    with pytest.raises(MalformedTokenError):
        verifier_for(issuer, clock).verify(token)


def test_every_refusal_is_an_invalid_token_or_forbidden() -> None:
    for error in (TokenExpiredError, WrongAudienceError, UnknownKeyError, WrongAlgorithmError):
        assert issubclass(error, InvalidTokenError)
        assert error.http_status == 401
    assert OwnerNotAllowedError.http_status == RepositoryMismatchError.http_status == 403


def test_an_unreachable_issuer_is_unavailable_not_a_bad_token(clock: Clock) -> None:
    with local_issuer() as issuer:
        token = issuer.token()
        url = issuer.url
    # The server is gone now: nothing listens on its port.
    verifier = OidcVerifier(
        url, audience=AUDIENCE, allowed_owners=(OWNER,), clock=clock, keys=KeySet(url, timeout_s=2)
    )

    with pytest.raises(IssuerUnavailableError) as raised:
        verifier.verify(token)

    assert raised.value.http_status == 503
