//! Signing in: accounts, passwords, throttling, the root token, session expiry, reopening.

use super::*;

pub(super) async fn sign_in_and_authenticate<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (project, operator) = account(&store, "Anna@Example.com").await;
    let session = store
        .login(" anna@EXAMPLE.com", PASSWORD, client())
        .await
        .expect("login");
    assert_eq!((session.operator, session.project), (operator, project));
    assert_eq!(
        TokenKind::of(session.token.expose()),
        Some(TokenKind::Session)
    );
    let expected = Authenticated::Operator {
        operator,
        project,
        method: AuthMethod::Session,
    };
    let (principal, csrf) = store
        .authenticate_session(session.token.expose())
        .await
        .expect("authenticate")
        .expect("a live session");
    assert_eq!(principal, expected);
    assert!(csrf.matches(session.csrf.expose()));
    // Twice (the second from the cache), and as a bearer token.
    for _ in 0..2 {
        assert_eq!(
            store
                .authenticate_bearer(session.token.expose())
                .await
                .expect("auth"),
            Some(expected)
        );
    }
    assert_eq!(
        store.authenticate_bearer(ROOT).await.expect("auth"),
        Some(Authenticated::Root)
    );
    assert!(store.is_root(ROOT));
    let forged = format!("sb_s_{}", "A".repeat(43));
    for wrong in [
        "",
        "nonsense",
        "root-token-of-the-tests-0002",
        "sb_s_",
        session.csrf.expose(),
        &forged,
    ] {
        assert!(!lives(&store, wrong).await, "{wrong}");
        assert!(
            store
                .authenticate_session(wrong)
                .await
                .expect("auth")
                .is_none()
        );
        assert!(!store.is_root(wrong));
    }

    // The email is unique across the installation, whatever its case; the operator too.
    let taken = store
        .create_account(
            ProjectId::new(),
            OperatorId::new(),
            "ANNA@example.com",
            PASSWORD,
        )
        .await;
    assert!(
        matches!(taken, Err(CredentialError::EmailTaken)),
        "{taken:?}"
    );
    let twice = store
        .create_account(project, operator, "other@example.com", PASSWORD)
        .await;
    assert!(
        matches!(twice, Err(CredentialError::OperatorExists)),
        "{twice:?}"
    );
    // The failed creation left the other email free.
    account(&store, "other@example.com").await;
    let weak = store
        .create_account(project, OperatorId::new(), "weak@example.com", "short")
        .await;
    assert!(
        matches!(weak, Err(CredentialError::WeakPassword(_))),
        "{weak:?}"
    );
    let stored = store
        .account(operator)
        .await
        .expect("read")
        .expect("account");
    assert_eq!(stored.email.as_str(), "anna@example.com");
    assert!(stored.active);
}

pub(super) async fn wrong_password_and_unknown_email_fail_alike<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    account(&store, "boris@example.com").await;
    // One round of each first: the dummy hash of unknown emails is made once per process.
    let _ = store.login("boris@example.com", "not it", client()).await;
    let _ = store.login("nobody@example.com", "not it", client()).await;
    let started = Instant::now();
    let wrong = store
        .login("boris@example.com", "not the password", client())
        .await
        .expect_err("wrong password");
    let wrong_took = started.elapsed();
    let started = Instant::now();
    let unknown = store
        .login("nobody@example.com", PASSWORD, client())
        .await
        .expect_err("unknown email");
    let unknown_took = started.elapsed();
    let malformed = store
        .login("not an email", PASSWORD, client())
        .await
        .expect_err("malformed email");
    println!("wrong password {wrong_took:?}, unknown email {unknown_took:?}");
    for error in [&wrong, &unknown, &malformed] {
        assert!(matches!(error, LoginError::BadCredentials), "{error:?}");
        assert_eq!(error.to_string(), "wrong email or password");
    }
}

pub(super) async fn throttling_kicks_in_and_recovers<H: Harness>(harness: &H) {
    let store = harness
        .open(CredentialOptions {
            throttle: ThrottleConfig {
                per_account_burst: NonZeroU32::new(3).expect("3"),
                per_account_period: Duration::from_millis(500),
                ..ThrottleConfig::default()
            },
            ..options()
        })
        .await;
    account(&store, "carl@example.com").await;
    // Four attempts at once: each takes its cell before its first await, in the order polled,
    // so the limit is reached whatever the password hashing costs on a busy machine.
    let other_address = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    let mut outcomes = futures::future::join_all([
        store.login("carl@example.com", "guess guess", client()),
        store.login("carl@example.com", "guess guess", client()),
        store.login("carl@example.com", "guess guess", client()),
        // Even the right password is throttled now, from another address too.
        store.login("CARL@example.com", PASSWORD, other_address),
    ])
    .await;
    let fourth = outcomes.pop().expect("four outcomes");
    for (attempt, outcome) in outcomes.into_iter().enumerate() {
        let error = outcome.expect_err("wrong password");
        assert!(
            matches!(error, LoginError::BadCredentials),
            "attempt {attempt}: {error:?}"
        );
    }
    let error = fourth.expect_err("throttled");
    let LoginError::Throttled { retry_after } = error else {
        panic!("not throttled: {error:?}");
    };
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(500));
    tokio::time::sleep(retry_after + Duration::from_millis(50)).await;
    store
        .login("carl@example.com", PASSWORD, client())
        .await
        .expect("allowed again after the wait");
}

/// A new password ends the operator's sessions (a stolen cookie dies with the old password)
/// and keeps their API tokens.
pub(super) async fn set_password_replaces_it<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (_, operator) = account(&store, "hana@example.com").await;
    account(&store, "hugo@example.com").await;
    let session = store
        .login("hana@example.com", PASSWORD, client())
        .await
        .expect("login");
    let other_session = store
        .login("hugo@example.com", PASSWORD, client())
        .await
        .expect("login");
    let token = store
        .create_api_token(operator, "etl")
        .await
        .expect("token");
    assert!(lives(&store, session.token.expose()).await);

    store
        .set_password(operator, "a brand new one")
        .await
        .expect("set");
    assert!(!lives(&store, session.token.expose()).await);
    assert!(lives(&store, token.token.expose()).await);
    assert!(lives(&store, other_session.token.expose()).await);
    let old = store
        .login("hana@example.com", PASSWORD, client())
        .await
        .expect_err("old");
    assert!(matches!(old, LoginError::BadCredentials), "{old:?}");
    let new = store
        .login("hana@example.com", "a brand new one", client())
        .await
        .expect("new");
    assert!(lives(&store, new.token.expose()).await);
    assert!(lives(&store, other_session.token.expose()).await);
    assert!(matches!(
        store.set_password(operator, "short").await,
        Err(CredentialError::WeakPassword(_))
    ));
    assert!(matches!(
        store.set_password(OperatorId::new(), "long enough").await,
        Err(CredentialError::UnknownOperator)
    ));
}

pub(super) async fn expired_sessions_end<H: Harness>(harness: &H) {
    let store = harness
        .open(CredentialOptions {
            session_ttl: Duration::from_secs(2),
            ..options()
        })
        .await;
    account(&store, "kim@example.com").await;
    let session = store
        .login("kim@example.com", PASSWORD, client())
        .await
        .expect("login");
    assert!(lives(&store, session.token.expose()).await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(!lives(&store, session.token.expose()).await);
    // Also for a handle that never cached it.
    let other = harness.open(options()).await;
    assert!(!lives(&other, session.token.expose()).await);
}

pub(super) async fn credentials_outlive_the_handle<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (_, operator) = account(&store, "lena@example.com").await;
    let session = store
        .login("lena@example.com", PASSWORD, client())
        .await
        .expect("login");
    let token = store
        .create_api_token(operator, "etl")
        .await
        .expect("token");
    drop(store);
    let reopened = harness.open(options()).await;
    assert!(lives(&reopened, session.token.expose()).await);
    assert!(lives(&reopened, token.token.expose()).await);
    let (_, csrf) = reopened
        .authenticate_session(session.token.expose())
        .await
        .expect("auth")
        .expect("session");
    assert!(csrf.matches(session.csrf.expose()));
}

/// Two nodes creating accounts of one email at the same moment: exactly one wins.
pub(super) async fn one_email_one_account_across_nodes<H: Harness>(harness: &H) {
    let a = harness.open(options()).await;
    let b = harness.open(options()).await;
    for round in 0..5 {
        let email = format!("race{round}@example.com");
        let shouted = email.to_uppercase();
        let (first, second) = tokio::join!(
            a.create_account(ProjectId::new(), OperatorId::new(), &email, PASSWORD),
            b.create_account(ProjectId::new(), OperatorId::new(), &shouted, PASSWORD),
        );
        let taken = [&first, &second]
            .iter()
            .filter(|outcome| matches!(outcome, Err(CredentialError::EmailTaken)))
            .count();
        let created = [&first, &second].iter().filter(|o| o.is_ok()).count();
        assert_eq!(
            (created, taken),
            (1, 1),
            "round {round}: {first:?} {second:?}"
        );
        let winner = first.as_ref().or(second.as_ref()).expect("one account");
        let session = b.login(&email, PASSWORD, client()).await.expect("login");
        assert_eq!(session.operator, winner.operator);
    }
}

/// The bucket forgets a session when it expires (its message TTL), presented again or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_sessions_leave_the_bucket_when_they_expire() {
    let harness = KvHarness::new().await;
    let store = harness
        .open(CredentialOptions {
            session_ttl: Duration::from_secs(1),
            ..options()
        })
        .await;
    account(&store, "quinn@example.com").await;
    let session = store
        .login("quinn@example.com", PASSWORD, client())
        .await
        .expect("login");
    let Backend::Kv(kv) = store.backend() else {
        panic!("not a bucket");
    };
    let key = format!("session.{}", session.token.hash().to_hex());
    assert!(kv.raw(&key).await.expect("read").is_some());
    let start = Instant::now();
    while kv.raw(&key).await.expect("read").is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the expired session is still in the bucket"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("session gone from the bucket after {:?}", start.elapsed());
    assert!(!lives(&store, session.token.expose()).await);
}

/// A lookup from the backend records the session's last use (here on every lookup from it).
pub(super) async fn last_use_is_recorded<H: Harness>(harness: &H) {
    let a = harness.open(options()).await;
    account(&a, "rita@example.com").await;
    let session = a
        .login("rita@example.com", PASSWORD, client())
        .await
        .expect("login");
    let first = a
        .session(session.token.expose())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(first.last_seen, first.created_at);
    assert!(first.csrf.matches(session.csrf.expose()));
    assert_eq!(first.expires_at, session.expires_at);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = harness
        .open(CredentialOptions {
            last_seen_every: Duration::ZERO,
            ..options()
        })
        .await;
    assert!(lives(&b, session.token.expose()).await);
    seen_within("last use recorded", || async {
        a.session(session.token.expose())
            .await
            .expect("read")
            .is_some_and(|stored| stored.last_seen > first.last_seen)
    })
    .await;
    assert!(a.logout(session.token.expose()).await.expect("logout"));
    assert!(
        a.session(session.token.expose())
            .await
            .expect("read")
            .is_none()
    );
}
