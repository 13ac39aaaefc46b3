//! Unit tests of the parts that need no storage: tokens, passwords, throttling, the root token,
//! secret sealing, emails and redaction. The store itself is proven on both backends by
//! `gateway/tests/it/credentials.rs`.

use super::password::{self, PasswordPhc};
use super::records::{Account, ApiToken, ApiTokenId, CredentialError, Email, Session};
use super::root::{RootToken, RootTokenOrigin};
use super::secrets::{SecretKey, SecretKeyOrigin};
use super::throttle::{Throttle, ThrottleConfig};
use super::tokens::{Csrf, IssuedToken, TokenHash, TokenKind};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;
use switchboard_schemas::{ChannelId, OperatorId, ProjectId, Timestamp};

#[test]
fn tokens_carry_their_kind_and_differ() {
    let a = IssuedToken::generate(TokenKind::Session).expect("token");
    let b = IssuedToken::generate(TokenKind::Session).expect("token");
    let api = IssuedToken::generate(TokenKind::Api).expect("token");
    assert!(a.expose().starts_with("sb_s_"));
    assert!(api.expose().starts_with("sb_t_"));
    assert_eq!(a.expose().len(), 5 + 43);
    assert_ne!(a.expose(), b.expose());
    assert_eq!(TokenKind::of(a.expose()), Some(TokenKind::Session));
    assert_eq!(TokenKind::of(api.expose()), Some(TokenKind::Api));
    assert_eq!(TokenKind::of("sb_s_short"), None);
    assert_eq!(TokenKind::of(&format!("{}!", &a.expose()[..47])), None);
    assert_eq!(TokenKind::of(""), None);
    assert_eq!(a.hash(), TokenHash::of(a.expose()));
    assert_ne!(a.hash(), b.hash());
    assert_eq!(TokenHash::from_hex(&a.hash().to_hex()), Some(a.hash()));
}

#[test]
fn csrf_matches_itself_only() {
    let csrf = Csrf::generate().expect("csrf");
    let copy = csrf.expose().to_owned();
    assert!(csrf.matches(&copy));
    assert!(!csrf.matches(&copy[..copy.len() - 1]));
    assert!(!csrf.matches(""));
    let mut changed = copy.into_bytes();
    changed[10] ^= 1;
    assert!(!csrf.matches(&String::from_utf8_lossy(&changed)));
}

#[test]
fn passwords_verify_and_refuse() {
    let phc = password::hash("correct horse").expect("hash");
    assert!(phc.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(password::verify("correct horse", &phc));
    assert!(!password::verify("correct horsE", &phc));
    assert!(!password::verify("", &phc));
    // Two hashes of one password differ by their salt.
    assert_ne!(
        password::hash("correct horse").expect("hash").as_str(),
        phc.as_str()
    );
    // A stored string that is no PHC matches nothing rather than failing.
    assert!(!password::verify(
        "x",
        &PasswordPhc::from_stored("garbage".into())
    ));
    assert!(!password::verify(&"a".repeat(5000), &phc));
}

#[test]
fn password_policy() {
    assert!(matches!(
        password::check_policy("short"),
        Err(CredentialError::WeakPassword(_))
    ));
    assert!(password::check_policy("eight ch").is_ok());
    assert!(password::check_policy(&"x".repeat(1025)).is_err());
}

#[test]
fn emails_are_normalised_and_checked() {
    assert_eq!(
        Email::parse("  Anna.K@Example.COM ")
            .expect("email")
            .as_str(),
        "anna.k@example.com"
    );
    for bad in ["", "no-at", "@x", "x@", "a b@c", "a@b@c", "a\n@b"] {
        assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn fast_throttle(account_burst: u32, address_burst: u32) -> ThrottleConfig {
    ThrottleConfig {
        per_account_burst: NonZeroU32::new(account_burst).expect("burst"),
        per_account_period: Duration::from_millis(300),
        per_address_burst: NonZeroU32::new(address_burst).expect("burst"),
        per_address_period: Duration::from_millis(300),
    }
}

#[test]
fn throttle_per_account_kicks_in_and_recovers() {
    let throttle = Throttle::new(fast_throttle(3, 100));
    for n in 0..3 {
        assert!(throttle.attempt("a@x", ip(n)).is_ok(), "attempt {n}");
    }
    let wait = throttle
        .attempt("a@x", ip(9))
        .expect_err("the 4th is throttled");
    assert!(wait > Duration::ZERO && wait <= Duration::from_millis(300));
    // Another account is not affected.
    assert!(throttle.attempt("b@x", ip(9)).is_ok());
    std::thread::sleep(wait + Duration::from_millis(20));
    assert!(throttle.attempt("a@x", ip(9)).is_ok());
}

#[test]
fn throttle_per_address_kicks_in() {
    let throttle = Throttle::new(fast_throttle(100, 2));
    assert!(throttle.attempt("a@x", ip(1)).is_ok());
    assert!(throttle.attempt("b@x", ip(1)).is_ok());
    assert!(throttle.attempt("c@x", ip(1)).is_err());
    assert!(throttle.attempt("c@x", ip(2)).is_ok());
}

#[test]
fn default_throttle_numbers() {
    let config = ThrottleConfig::default();
    assert_eq!(config.per_account_burst.get(), 10);
    assert_eq!(config.per_account_period, Duration::from_secs(30));
    assert_eq!(config.per_address_burst.get(), 30);
    assert_eq!(config.per_address_period, Duration::from_secs(2));
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn root_token_is_generated_once_with_mode_0600() {
    let dir = tempfile::tempdir().expect("dir");
    let (root, origin) = RootToken::load(None, dir.path()).expect("root");
    let RootTokenOrigin::Generated { path, token } = origin else {
        panic!("not generated: {origin:?}");
    };
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    assert!(root.matches(token.expose()));
    assert!(!root.matches("sb_r_wrong"));
    // The second start reads the same token and shows nothing.
    let (again, origin) = RootToken::load(None, dir.path()).expect("root");
    assert!(matches!(origin, RootTokenOrigin::File(_)));
    assert!(again.matches(token.expose()));
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.trim(), token.expose());
}

#[test]
fn root_token_from_the_environment_wins() {
    let dir = tempfile::tempdir().expect("dir");
    let (root, origin) =
        RootToken::load(Some("a-root-token-of-the-env".into()), dir.path()).expect("root");
    assert!(matches!(origin, RootTokenOrigin::Environment));
    assert!(root.matches("a-root-token-of-the-env"));
    assert!(!dir.path().join("root-token").exists());
    assert!(RootToken::load(Some("short".into()), dir.path()).is_err());
    let session_shaped = IssuedToken::generate(TokenKind::Session).expect("token");
    assert!(matches!(
        RootToken::load(Some(session_shaped.expose().into()), dir.path()),
        Err(CredentialError::Misconfigured(_))
    ));
}

#[test]
fn secret_key_file_is_generated_once() {
    let dir = tempfile::tempdir().expect("dir");
    let (key, origin) = SecretKey::load(None, dir.path()).expect("key");
    let SecretKeyOrigin::Generated(path) = origin else {
        panic!("not generated: {origin:?}");
    };
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let channel = ChannelId::new();
    let sealed = key.seal(channel, b"bot-token").expect("seal");
    let (again, origin) = SecretKey::load(None, dir.path()).expect("key");
    assert_eq!(origin, SecretKeyOrigin::File(path));
    assert_eq!(
        again.open(channel, &sealed).expect("open").expose(),
        b"bot-token"
    );
}

fn key_text(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32])
}

#[test]
fn sealed_secrets_open_only_for_their_channel_and_key() {
    let key = SecretKey::decode(&key_text(1)).expect("key");
    let other_key = SecretKey::decode(&key_text(2)).expect("key");
    let channel = ChannelId::new();
    let secret = b"xoxb-telegram-bot-token";
    let a = key.seal(channel, secret).expect("seal");
    let b = key.seal(channel, secret).expect("seal");
    assert_ne!(a, b, "a fresh nonce per write");
    assert!(!a.windows(secret.len()).any(|w| w == secret));
    assert_eq!(key.open(channel, &a).expect("open").expose(), secret);
    assert!(matches!(
        key.open(ChannelId::new(), &a),
        Err(CredentialError::SecretUndecryptable)
    ));
    assert!(other_key.open(channel, &a).is_err());
    let mut tampered = a.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(key.open(channel, &tampered).is_err());
    assert!(key.open(channel, &[]).is_err());
    assert!(key.open(channel, &a[..10]).is_err());
    assert!(SecretKey::decode("too-short").is_err());
    assert!(matches!(
        key.seal(channel, &vec![0; 64 * 1024 + 1]),
        Err(CredentialError::SecretTooLarge)
    ));
}

#[test]
fn debug_output_holds_no_secret() {
    let token = IssuedToken::generate(TokenKind::Api).expect("token");
    let csrf = Csrf::generate().expect("csrf");
    let phc = password::hash("hunter2hunter2").expect("hash");
    let key = SecretKey::decode(&key_text(3)).expect("key");
    let (root, _) = RootToken::load(
        Some("root-token-in-env-123".into()),
        std::path::Path::new("/nonexistent"),
    )
    .expect("root");
    let session = Session {
        hash: token.hash(),
        operator: OperatorId::new(),
        project: ProjectId::new(),
        epoch: 0,
        session_epoch: 0,
        created_at: Timestamp::now(),
        expires_at: Timestamp::now(),
        csrf: csrf.clone(),
        last_seen: Timestamp::now(),
    };
    let account = Account {
        operator: OperatorId::new(),
        project: ProjectId::new(),
        email: Email::parse("a@b.c").expect("email"),
        password: phc.clone(),
        active: true,
        epoch: 0,
        session_epoch: 0,
        created_at: Timestamp::now(),
    };
    let api = ApiToken {
        id: ApiTokenId::new(),
        name: "crm".into(),
        hash: token.hash(),
        operator: OperatorId::new(),
        project: ProjectId::new(),
        epoch: 0,
        created_at: Timestamp::now(),
        revoked: false,
    };
    let secret = key
        .open(
            ChannelId::from_u128(1),
            &key.seal(ChannelId::from_u128(1), b"s3cr3t-value")
                .expect("seal"),
        )
        .expect("open");
    let printed = format!(
        "{token:?} {csrf:?} {phc:?} {key:?} {root:?} {session:?} {account:?} {api:?} {secret:?}"
    );
    for secret_text in [
        token.expose(),
        &token.expose()[5..],
        csrf.expose(),
        phc.as_str(),
        &token.hash().to_hex(),
        "root-token-in-env-123",
        "s3cr3t-value",
        &key_text(3),
    ] {
        assert!(!printed.contains(secret_text), "{secret_text} in {printed}");
    }
    assert!(
        printed.contains("a@b.c"),
        "non-secrets still show: {printed}"
    );
}

#[test]
fn options_from_the_data_directory_are_stable() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let (options, root, key) = super::CredentialOptions::from_environment(&data).expect("options");
    // The test process may have the variables set; then nothing is generated, which is right too.
    if std::env::var_os(super::root::ROOT_TOKEN_ENV).is_none() {
        let RootTokenOrigin::Generated { token, .. } = root else {
            panic!("not generated: {root:?}");
        };
        assert!(options.root.as_ref().expect("root").matches(token.expose()));
        let (again, origin, _) =
            super::CredentialOptions::from_environment(&data).expect("options");
        assert!(matches!(origin, RootTokenOrigin::File(_)));
        assert!(again.root.expect("root").matches(token.expose()));
    }
    if std::env::var_os(super::secrets::SECRET_KEY_ENV).is_none() {
        assert!(matches!(key, SecretKeyOrigin::Generated(_)));
    }
    assert!(options.secret_key.is_some());
}

#[cfg(unix)]
#[test]
fn the_credential_file_is_private() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("credentials.sqlite");
    let store = super::SqliteCredentials::open(&path).expect("open");
    assert_eq!(mode(&path), 0o600);
    // SQLite gives the WAL of an open connection the main file's mode.
    let wal = dir.path().join("credentials.sqlite-wal");
    assert_eq!(mode(&wal), 0o600);
    drop(store);
}

fn cached(operator: OperatorId) -> std::sync::Arc<super::cache::Cached> {
    std::sync::Arc::new(super::cache::Cached {
        principal: super::Authenticated::Operator {
            operator,
            project: ProjectId::new(),
            method: super::AuthMethod::Session,
        },
        operator: Some(operator),
        csrf: None,
        expires_at: None,
        loaded_at: std::time::Instant::now(),
    })
}

#[test]
fn the_cache_answers_only_while_live_and_drops_stale_inserts() {
    use super::cache::{AuthCache, Invalidation};
    let cache = AuthCache::default();
    let (one, two) = (TokenHash::of("one"), TokenHash::of("two"));
    let (alice, bob) = (OperatorId::new(), OperatorId::new());
    cache.set_live(true);
    let seen = cache.generation();
    cache.insert(seen, one, cached(alice));
    assert!(cache.get(&one).is_some());
    // An answer read before an invalidation is not kept after it.
    let before = cache.generation();
    cache.revoke(Invalidation::Token(one));
    cache.insert(before, two, cached(bob));
    assert!(cache.get(&two).is_none());
    cache.insert(cache.generation(), two, cached(bob));
    assert!(cache.get(&two).is_some());
    // Nor is one about a token or operator revoked a moment ago (a lagging replica's).
    cache.insert(cache.generation(), one, cached(alice));
    assert!(cache.get(&one).is_none());
    let three = TokenHash::of("three");
    cache.revoke(Invalidation::Operator(alice));
    cache.insert(cache.generation(), three, cached(alice));
    assert!(cache.get(&three).is_none());
    cache.insert(cache.generation(), one, cached(bob));
    assert!(cache.get(&one).is_none(), "token one is still settling");
    // An operator's invalidation drops their entries only, and without a revocation's pause.
    let four = TokenHash::of("four");
    let carol = OperatorId::new();
    cache.insert(cache.generation(), four, cached(carol));
    cache.invalidate(Invalidation::Operator(carol));
    assert!(cache.get(&four).is_none());
    assert!(cache.get(&two).is_some());
    cache.insert(cache.generation(), four, cached(carol));
    assert!(cache.get(&four).is_some());
    // Not live: nothing answered; live again: everything forgotten.
    cache.set_live(false);
    assert!(cache.get(&two).is_none());
    cache.set_live(true);
    assert!(cache.get(&two).is_none());
}
