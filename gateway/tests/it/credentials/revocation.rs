//! Ending credentials: one session, everything of an operator, deactivation, and the same seen
//! by another node.

use super::*;

pub(super) async fn logout_ends_one_session<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    account(&store, "dora@example.com").await;
    let first = store
        .login("dora@example.com", PASSWORD, client())
        .await
        .expect("login");
    let second = store
        .login("dora@example.com", PASSWORD, client())
        .await
        .expect("login");
    assert_ne!(first.token.expose(), second.token.expose());
    assert!(lives(&store, first.token.expose()).await);
    assert!(store.logout(first.token.expose()).await.expect("logout"));
    assert!(
        !store
            .logout(first.token.expose())
            .await
            .expect("logout again")
    );
    assert!(!lives(&store, first.token.expose()).await);
    assert!(
        store
            .authenticate_session(first.token.expose())
            .await
            .expect("auth")
            .is_none()
    );
    assert!(lives(&store, second.token.expose()).await);
}

pub(super) async fn logout_all_ends_sessions_and_tokens<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (_, operator) = account(&store, "emil@example.com").await;
    let (_, bystander) = account(&store, "fay@example.com").await;
    let session = store
        .login("emil@example.com", PASSWORD, client())
        .await
        .expect("login");
    let token = store
        .create_api_token(operator, "crm")
        .await
        .expect("token");
    let other = store
        .create_api_token(bystander, "crm")
        .await
        .expect("token");
    assert!(lives(&store, token.token.expose()).await);
    assert!(lives(&store, session.token.expose()).await);

    store.logout_all(operator).await.expect("logout all");
    assert!(!lives(&store, session.token.expose()).await);
    assert!(!lives(&store, token.token.expose()).await);
    assert!(lives(&store, other.token.expose()).await);
    // Signing in again works, and the new session lives.
    let again = store
        .login("emil@example.com", PASSWORD, client())
        .await
        .expect("login");
    assert!(lives(&store, again.token.expose()).await);
    assert!(matches!(
        store.logout_all(OperatorId::new()).await,
        Err(CredentialError::UnknownOperator)
    ));
}

pub(super) async fn deactivation_ends_everything<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (_, operator) = account(&store, "gus@example.com").await;
    let session = store
        .login("gus@example.com", PASSWORD, client())
        .await
        .expect("login");
    let token = store
        .create_api_token(operator, "bot")
        .await
        .expect("token");
    store.deactivate(operator).await.expect("deactivate");
    assert!(!lives(&store, session.token.expose()).await);
    assert!(!lives(&store, token.token.expose()).await);
    let refused = store
        .login("gus@example.com", PASSWORD, client())
        .await
        .expect_err("refused");
    assert!(matches!(refused, LoginError::Deactivated), "{refused:?}");
    // A wrong password does not learn that the account is deactivated.
    let wrong = store
        .login("gus@example.com", "wrong wrong", client())
        .await
        .expect_err("wrong");
    assert!(matches!(wrong, LoginError::BadCredentials), "{wrong:?}");
    assert!(matches!(
        store.create_api_token(operator, "late").await,
        Err(CredentialError::UnknownOperator)
    ));
    let account = store
        .account(operator)
        .await
        .expect("read")
        .expect("account");
    assert!(!account.active);

    store.reactivate(operator).await.expect("reactivate");
    let back = store
        .login("gus@example.com", PASSWORD, client())
        .await
        .expect("login");
    assert!(lives(&store, back.token.expose()).await);
    // What the deactivation ended stays ended.
    assert!(!lives(&store, session.token.expose()).await);
    assert!(!lives(&store, token.token.expose()).await);
}

/// Two handles on one storage (two nodes): what one revokes, the other refuses within the bound
/// even though it had the answer cached.
pub(super) async fn revocations_reach_the_other_node<H: Harness>(harness: &H) {
    let a = harness.open(options()).await;
    let b = harness.open(options()).await;
    let (project, operator) = account(&a, "nina@example.com").await;
    let (_, other) = account(&a, "olga@example.com").await;
    let s1 = a
        .login("nina@example.com", PASSWORD, client())
        .await
        .expect("login");
    let s2 = a
        .login("nina@example.com", PASSWORD, client())
        .await
        .expect("login");
    let t1 = a.create_api_token(operator, "one").await.expect("token");
    let t2 = a.create_api_token(other, "two").await.expect("token");
    let s3 = a
        .login("olga@example.com", PASSWORD, client())
        .await
        .expect("login");
    // Node b waits for its feed to be up, then authenticates each (caching them).
    let start = Instant::now();
    while !b.cache_is_live() {
        assert!(
            start.elapsed() < REVOCATION_BOUND,
            "the feed of b never came up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for token in [&s1.token, &s2.token, &t1.token, &t2.token, &s3.token] {
        assert!(lives(&b, token.expose()).await);
    }

    assert!(a.logout(s1.token.expose()).await.expect("logout"));
    seen_within("logout on the other node", || async {
        !lives(&b, s1.token.expose()).await
    })
    .await;
    assert!(lives(&b, s2.token.expose()).await);

    assert!(
        a.revoke_api_token(project, t1.record.id)
            .await
            .expect("revoke")
    );
    seen_within("API token revocation on the other node", || async {
        !lives(&b, t1.token.expose()).await
    })
    .await;

    a.deactivate(other).await.expect("deactivate");
    seen_within("deactivation on the other node", || async {
        !lives(&b, t2.token.expose()).await && !lives(&b, s3.token.expose()).await
    })
    .await;

    // A new password ends the sessions, not the tokens.
    let t3 = a.create_api_token(operator, "three").await.expect("token");
    assert!(lives(&b, t3.token.expose()).await);
    a.set_password(operator, "another password")
        .await
        .expect("set password");
    seen_within("password change on the other node", || async {
        !lives(&b, s2.token.expose()).await
    })
    .await;
    assert!(lives(&b, t3.token.expose()).await);

    a.logout_all(operator).await.expect("logout all");
    seen_within("sign-out of everything on the other node", || async {
        !lives(&b, t3.token.expose()).await
    })
    .await;
    // And the other way round: b's revocation reaches a.
    let s4 = a
        .login("nina@example.com", "another password", client())
        .await
        .expect("login");
    assert!(lives(&a, s4.token.expose()).await);
    assert!(b.logout(s4.token.expose()).await.expect("logout"));
    seen_within("logout through b on a", || async {
        !lives(&a, s4.token.expose()).await
    })
    .await;
}

/// While a node cannot watch the bucket it trusts no cached answer (a revocation could be
/// passing it by): authentication fails as a storage error rather than answering from the
/// cache, and works again, from a fresh cache, once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_cache_is_not_trusted_while_the_watch_is_down() {
    let mut harness = KvHarness::new().await;
    let store = harness.open(options()).await;
    let (_, operator) = account(&store, "pia@example.com").await;
    let token = store
        .create_api_token(operator, "etl")
        .await
        .expect("token");
    seen_within("the feed up", || async { store.cache_is_live() }).await;
    assert!(lives(&store, token.token.expose()).await);

    tokio::task::block_in_place(|| harness.server.stop());
    seen_within("the feed down", || async { !store.cache_is_live() }).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        store.authenticate_bearer(token.token.expose()),
    )
    .await;
    assert!(
        !matches!(answer, Ok(Ok(Some(_)))),
        "answered from the cache while the watch was down: {answer:?}"
    );

    tokio::task::block_in_place(|| harness.server.restart());
    let start = Instant::now();
    while !store.cache_is_live() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the feed never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lives(&store, token.token.expose()).await);
}
