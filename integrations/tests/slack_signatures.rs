//! Slack request signatures: a request Slack signed is accepted once, and nothing else is.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use steward_integrations::slack::{verify, ReplayGuard, SlashCommand, VerifyError};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TIMESTAMP: &str = "1531420618";
const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V\
&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=\
&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
/// The signature Slack's documentation gives for the request above.
const SLACK_DOCS_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const NOW: i64 = 1_531_420_618 + 10;

/// Signs like Slack does, with hmac directly rather than through the code under test.
fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn slacks_documented_example_verifies() {
    assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), SLACK_DOCS_SIGNATURE);
    assert_eq!(
        verify(SECRET, TIMESTAMP, SLACK_DOCS_SIGNATURE, BODY.as_bytes(), NOW),
        Ok(())
    );
    let command = SlashCommand::parse_form(BODY.as_bytes()).unwrap();
    assert_eq!(command.command, "/webhook-collect");
    assert_eq!(command.user_name, "roadrunner");
    assert_eq!(command.text, "");
}

#[test]
fn a_request_signed_with_the_secret_verifies() {
    let body = br#"{"type":"event_callback","event_id":"Ev1"}"#;
    let signature = sign("another-secret", "1700000000", body);
    assert_eq!(
        verify("another-secret", "1700000000", &signature, body, 1_700_000_000),
        Ok(())
    );
    assert_eq!(
        verify("wrong-secret", "1700000000", &signature, body, 1_700_000_000),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_tampered_body_or_timestamp_is_refused() {
    let tampered = BODY.replace("roadrunner", "coyote");
    assert_eq!(
        verify(SECRET, TIMESTAMP, SLACK_DOCS_SIGNATURE, tampered.as_bytes(), NOW),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify(SECRET, "1531420619", SLACK_DOCS_SIGNATURE, BODY.as_bytes(), NOW),
        Err(VerifyError::BadSignature)
    );
    let flipped = SLACK_DOCS_SIGNATURE.replace("a2114d", "a2114e");
    assert_eq!(
        verify(SECRET, TIMESTAMP, &flipped, BODY.as_bytes(), NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_timestamp_more_than_five_minutes_away_is_refused_either_way() {
    let sent = 1_531_420_618;
    for now in [sent + 300, sent - 300] {
        assert_eq!(
            verify(SECRET, TIMESTAMP, SLACK_DOCS_SIGNATURE, BODY.as_bytes(), now),
            Ok(()),
            "{now}"
        );
    }
    for now in [sent + 301, sent - 301] {
        assert_eq!(
            verify(SECRET, TIMESTAMP, SLACK_DOCS_SIGNATURE, BODY.as_bytes(), now),
            Err(VerifyError::Stale { timestamp: sent, now })
        );
    }
}

#[test]
fn the_same_signed_request_is_accepted_only_once() {
    let guard = ReplayGuard::default();
    let sent = 1_531_420_618;
    verify(SECRET, TIMESTAMP, SLACK_DOCS_SIGNATURE, BODY.as_bytes(), NOW).unwrap();
    assert_eq!(guard.check(sent, SLACK_DOCS_SIGNATURE, NOW), Ok(()));
    verify(SECRET, TIMESTAMP, SLACK_DOCS_SIGNATURE, BODY.as_bytes(), NOW + 60).unwrap();
    assert_eq!(
        guard.check(sent, SLACK_DOCS_SIGNATURE, NOW + 60),
        Err(VerifyError::Replayed)
    );
    // Another request in the same second is not a replay.
    let other = sign(SECRET, TIMESTAMP, b"text=other");
    assert_eq!(guard.check(sent, &other, NOW + 60), Ok(()));
}
