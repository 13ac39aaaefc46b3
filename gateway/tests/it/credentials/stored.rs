//! API tokens, channel secrets, and what lies in the storage (hashes, never tokens).

use super::*;

pub(super) async fn api_tokens_are_listed_and_revoked<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (project, admin) = account(&store, "ivan@example.com").await;
    let (other_project, other_admin) = account(&store, "jana@example.com").await;
    let crm = store
        .create_api_token(admin, "CRM sync")
        .await
        .expect("token");
    let bot = store.create_api_token(admin, "bot").await.expect("token");
    let foreign = store
        .create_api_token(other_admin, "theirs")
        .await
        .expect("token");
    assert_eq!(TokenKind::of(crm.token.expose()), Some(TokenKind::Api));
    assert!(matches!(
        store.create_api_token(admin, "  ").await,
        Err(CredentialError::InvalidName(_))
    ));
    assert!(matches!(
        store.create_api_token(admin, &"x".repeat(101)).await,
        Err(CredentialError::InvalidName(_))
    ));

    let listed = store.list_api_tokens(project).await.expect("list");
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["CRM sync", "bot"]);
    assert!(
        listed
            .iter()
            .all(|t| !t.revoked && t.project == project && t.operator == admin)
    );
    assert_eq!(
        store
            .list_api_tokens(other_project)
            .await
            .expect("list")
            .len(),
        1
    );

    assert_eq!(
        store
            .authenticate_bearer(crm.token.expose())
            .await
            .expect("auth"),
        Some(Authenticated::Operator {
            operator: admin,
            project,
            method: AuthMethod::ApiToken(crm.record.id),
        })
    );
    // An API token is no session: no cookie sign-in with it.
    assert!(
        store
            .authenticate_session(crm.token.expose())
            .await
            .expect("auth")
            .is_none()
    );

    // Another project cannot revoke it.
    assert!(
        !store
            .revoke_api_token(other_project, crm.record.id)
            .await
            .expect("revoke")
    );
    assert!(lives(&store, crm.token.expose()).await);
    assert!(
        store
            .revoke_api_token(project, crm.record.id)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_api_token(project, crm.record.id)
            .await
            .expect("again")
    );
    assert!(!lives(&store, crm.token.expose()).await);
    assert!(lives(&store, bot.token.expose()).await);
    assert!(lives(&store, foreign.token.expose()).await);
    let listed = store.list_api_tokens(project).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|t| (t.name.as_str(), t.revoked))
            .collect::<Vec<_>>(),
        [("CRM sync", true), ("bot", false)]
    );
}

pub(super) async fn only_hashes_are_stored<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (_, operator) = account(&store, "mona@example.com").await;
    let session = store
        .login("mona@example.com", PASSWORD, client())
        .await
        .expect("login");
    let token = store
        .create_api_token(operator, "hooks")
        .await
        .expect("token");
    let channel = ChannelId::new();
    store
        .put_secret(channel, b"telegram-bot-secret-123")
        .await
        .expect("put");
    drop(store);
    let stored = harness.stored_bytes().await;
    assert!(
        contains(&stored, b"mona@example.com"),
        "the dump holds the records"
    );
    for (what, secret) in [
        ("session token", session.token.expose()),
        ("session token body", &session.token.expose()[5..]),
        ("API token", token.token.expose()),
        ("API token body", &token.token.expose()[5..]),
        ("password", PASSWORD),
        ("channel secret", "telegram-bot-secret-123"),
    ] {
        assert!(
            !contains(&stored, secret.as_bytes()),
            "the {what} is stored"
        );
    }
}

pub(super) async fn channel_secrets<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let channel = ChannelId::new();
    assert_eq!(store.get_secret(channel).await.expect("get"), None);
    store.put_secret(channel, b"first").await.expect("put");
    store.put_secret(channel, b"second").await.expect("replace");
    assert_eq!(
        store
            .get_secret(channel)
            .await
            .expect("get")
            .expect("some")
            .expose(),
        b"second"
    );
    // Another node with the same key reads it; one with another key cannot.
    let same_key = harness.open(options()).await;
    assert_eq!(
        same_key
            .get_secret(channel)
            .await
            .expect("get")
            .expect("some")
            .expose(),
        b"second"
    );
    let other_key = harness
        .open(CredentialOptions {
            secret_key: Some(key(8)),
            ..options()
        })
        .await;
    assert!(matches!(
        other_key.get_secret(channel).await,
        Err(CredentialError::SecretUndecryptable)
    ));
    let no_key = harness
        .open(CredentialOptions {
            secret_key: None,
            ..options()
        })
        .await;
    assert!(matches!(
        no_key.put_secret(channel, b"x").await,
        Err(CredentialError::NoSecretKey)
    ));
    assert!(store.delete_secret(channel).await.expect("delete"));
    assert!(!store.delete_secret(channel).await.expect("delete again"));
    assert_eq!(same_key.get_secret(channel).await.expect("get"), None);
}

/// A person's own settings: the defaults first, a change kept across handles (another node,
/// a restart), each person's apart, and no session or token ended by a change.
pub(super) async fn profiles_are_kept_per_person<H: Harness>(harness: &H) {
    let store = harness.open(options()).await;
    let (_, ivan) = account(&store, "ivan@example.com").await;
    let (_, jana) = account(&store, "jana@example.com").await;
    let session = store
        .login("ivan@example.com", PASSWORD, client())
        .await
        .expect("sign in");
    assert_eq!(store.profile(ivan).await.expect("read"), Profile::default());
    let chosen = Profile {
        language: Some("ru".to_owned()),
        notifications: false,
        sound: true,
    };
    store
        .set_profile(ivan, chosen.clone())
        .await
        .expect("write");

    let other = harness.open(options()).await;
    assert_eq!(other.profile(ivan).await.expect("read"), chosen);
    assert_eq!(other.profile(jana).await.expect("read"), Profile::default());
    assert!(
        lives(&store, session.token.expose()).await,
        "a change of settings ends no session"
    );
}
