//! Authentication at the edge: [`authenticate`] turns the request's credentials into a
//! [`Principal`] in its extensions (or an [`AuthFailure`] saying why not), and the routes of
//! `/v1/auth` sign operators in and out.
//!
//! - `Authorization: Bearer <token>`: the root token, a session token or an API token;
//! - the `sb_session` cookie (`HttpOnly`, `SameSite=Strict`): a browser's session. A write
//!   (any method but GET/HEAD/OPTIONS) by cookie must also send the session's CSRF token in
//!   `X-CSRF-Token`, so another site can never write in the operator's name.
//!
//! Nothing here decides what a caller may do: the extractors of [`super::caller`] and the
//! domain do.

use super::caller::{Operator, Principal, Via};
use super::{AppError, AppState, Json};
use crate::credentials::{
    AuthMethod, Authenticated, CredentialError, CredentialStore, LoginError, Profile,
};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use switchboard_schemas::Timestamp;
use utoipa::ToSchema;

pub const SESSION_COOKIE: &str = "sb_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Why a request carries no principal although it presented credentials.
#[derive(Debug, Clone)]
pub enum AuthFailure {
    /// Unknown, expired or revoked credentials (401).
    Invalid,
    /// A cookie-authenticated write without the session's CSRF token (403).
    Csrf,
    /// The credential store did not answer (503).
    Unavailable(String),
}

/// The raw session token of this request (cookie or bearer), for signing out.
#[derive(Debug, Clone)]
pub struct SessionToken(pub String);

/// The CSRF token of this request's cookie session (for `GET /v1/auth/me`).
#[derive(Clone)]
pub struct SessionCsrf(String);

impl std::fmt::Debug for SessionCsrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCsrf(…)")
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

fn principal_of(authenticated: Authenticated, via: Via) -> Principal {
    match authenticated {
        Authenticated::Root => Principal::Root,
        Authenticated::Operator {
            operator, project, ..
        } => Principal::Operator {
            project,
            operator,
            via,
        },
    }
}

/// The authentication layer: runs before every route.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(store) = state.credentials.clone() else {
        return next.run(request).await;
    };
    let outcome = resolve(&store, request.method(), request.headers()).await;
    match outcome {
        Ok(Some((principal, session, csrf))) => {
            request.extensions_mut().insert(principal);
            if let Some(token) = session {
                request.extensions_mut().insert(SessionToken(token));
            }
            if let Some(csrf) = csrf {
                request.extensions_mut().insert(SessionCsrf(csrf));
            }
        }
        Ok(None) => {}
        Err(failure) => {
            request.extensions_mut().insert(failure);
        }
    }
    next.run(request).await
}

/// Who calls; the session's token (a session, by bearer or cookie); the session's CSRF token
/// (a cookie session).
type Resolved = Option<(Principal, Option<String>, Option<String>)>;

pub(super) async fn resolve(
    store: &CredentialStore,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Resolved, AuthFailure> {
    let unavailable = |error: CredentialError| AuthFailure::Unavailable(error.to_string());
    if let Some(token) = bearer(headers) {
        let found = store
            .authenticate_bearer(token)
            .await
            .map_err(unavailable)?;
        let Some(authenticated) = found else {
            return Err(AuthFailure::Invalid);
        };
        let session = matches!(
            authenticated,
            Authenticated::Operator {
                method: AuthMethod::Session,
                ..
            }
        )
        .then(|| token.to_owned());
        return Ok(Some((
            principal_of(authenticated, Via::Bearer),
            session,
            None,
        )));
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = store
        .authenticate_session(token)
        .await
        .map_err(unavailable)?;
    let Some((authenticated, csrf)) = found else {
        return Err(AuthFailure::Invalid);
    };
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !csrf.matches(presented) {
            return Err(AuthFailure::Csrf);
        }
    }
    Ok(Some((
        principal_of(authenticated, Via::Cookie),
        Some(token.to_owned()),
        Some(csrf.expose().to_owned()),
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

/// A session just begun. The browser also gets it as the `sb_session` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// The session token, for `Authorization: Bearer` (shown once).
    pub token: String,
    /// Send in `X-CSRF-Token` with every write authenticated by the cookie.
    pub csrf: String,
    #[schema(value_type = uuid::Uuid)]
    pub operator: String,
    #[schema(value_type = uuid::Uuid)]
    pub project: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

fn client_ip(request_info: Option<&ConnectInfo<SocketAddr>>) -> IpAddr {
    request_info.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

impl From<CredentialError> for AppError {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::EmailTaken => AppError::Refused {
                code: "already_exists",
                message: "the email is taken".to_owned(),
            },
            CredentialError::OperatorExists => AppError::Refused {
                code: "already_exists",
                message: error.to_string(),
            },
            CredentialError::UnknownOperator => AppError::NotFound(error.to_string()),
            CredentialError::InvalidEmail(_) => AppError::bad_request("email", error.to_string()),
            CredentialError::WeakPassword(_) => {
                AppError::bad_request("password", error.to_string())
            }
            CredentialError::InvalidName(_) => AppError::bad_request("name", error.to_string()),
            other => AppError::Unavailable(other.to_string()),
        }
    }
}

/// Signs an operator in with email and password.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = OK, body = LoginAnswer, description = "Signed in; the `sb_session` cookie is set too"),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer, description = "wrong email or password"),
        (status = FORBIDDEN, body = super::ErrorAnswer, description = "the account is deactivated"),
        (status = TOO_MANY_REQUESTS, body = super::ErrorAnswer, description = "too many attempts; see Retry-After"),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    extensions(("x-sb-access" = json!("public"))),
)]
pub async fn login(
    State(state): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<LoginBody>,
) -> Result<Response, AppError> {
    let store = state.credential_store()?;
    let ip = client_ip(connect.as_ref().map(|c| &c.0));
    let session =
        store
            .login(&body.email, &body.password, ip)
            .await
            .map_err(|error| match error {
                LoginError::BadCredentials => {
                    AppError::Unauthorized("wrong email or password".to_owned())
                }
                LoginError::Throttled { retry_after } => AppError::Throttled {
                    message: "too many sign-in attempts; retry later".to_owned(),
                    retry_after_secs: retry_after.as_secs().max(1),
                },
                LoginError::Deactivated => {
                    AppError::Forbidden("the account is deactivated".to_owned())
                }
                LoginError::Store(error) => error.into(),
            })?;
    let max_age =
        (session.expires_at.as_micros() - Timestamp::now().as_micros()).max(0) / 1_000_000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        session.token.expose()
    );
    let answer = LoginAnswer {
        token: session.token.expose().to_owned(),
        csrf: session.csrf.expose().to_owned(),
        operator: session.operator.to_string(),
        project: session.project.to_string(),
        expires_at: session.expires_at,
    };
    let mut response = Json(answer).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|_| {
        AppError::Internal("a session cookie that is not a header value".to_owned())
    })?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Ends the caller's session (the cookie's or the bearer session token's).
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    responses(
        (status = NO_CONTENT, description = "Signed out; the cookie is cleared"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn logout(
    State(state): State<AppState>,
    _: Operator,
    session: Option<axum::Extension<SessionToken>>,
) -> Result<Response, AppError> {
    let store = state.credential_store()?;
    if let Some(axum::Extension(SessionToken(token))) = session {
        store.logout(&token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[schema(value_type = uuid::Uuid)]
    pub operator: String,
    #[schema(value_type = uuid::Uuid)]
    pub project: String,
    /// `admin` or `operator`.
    pub role: &'static str,
    /// A browser session's CSRF token (what its writes send as `X-CSRF-Token`), so that a page
    /// that lost it needs no new sign-in; `null` for a bearer token.
    pub csrf: Option<String>,
}

/// The signed-in operator.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "auth",
    responses(
        (status = OK, body = Me),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn me(
    Operator(caller): Operator,
    csrf: Option<axum::Extension<SessionCsrf>>,
) -> Json<Me> {
    Json(Me {
        csrf: csrf.map(|axum::Extension(SessionCsrf(csrf))| csrf),
        operator: caller.operator.to_string(),
        project: caller.project.to_string(),
        role: match caller.role {
            switchboard_schemas::Role::Admin => "admin",
            switchboard_schemas::Role::Operator => "operator",
        },
    })
}

/// A language of the web inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Ru,
}

impl Language {
    fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ru => "ru",
        }
    }

    fn of(code: Option<&str>) -> Option<Self> {
        match code? {
            "en" => Some(Language::En),
            "ru" => Some(Language::Ru),
            _ => None,
        }
    }
}

/// The caller's own settings of the web inbox (F10 switches and the language).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileAnswer {
    /// None: the browser's language.
    pub language: Option<Language>,
    /// Browser notifications of new client messages (the folders' push switches still apply).
    pub notifications: bool,
    /// A sound with each notification (the folders' sound switches still apply).
    pub sound: bool,
}

impl From<Profile> for ProfileAnswer {
    fn from(profile: Profile) -> Self {
        Self {
            language: Language::of(profile.language.as_deref()),
            notifications: profile.notifications,
            sound: profile.sound,
        }
    }
}

/// A change of the caller's settings: the fields given replace theirs, the others stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// `null` goes back to the browser's language.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Language>)]
    pub language: Option<Option<Language>>,
    pub notifications: Option<bool>,
    pub sound: Option<bool>,
}

/// A field that is present (`null` included), told apart from an absent one.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The caller's settings of the web inbox.
#[utoipa::path(
    get,
    path = "/v1/profile",
    tag = "auth",
    responses(
        (status = OK, body = ProfileAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn profile(
    State(state): State<AppState>,
    Operator(caller): Operator,
) -> Result<Json<ProfileAnswer>, AppError> {
    let store = state.credential_store()?;
    Ok(Json(store.profile(caller.operator).await?.into()))
}

/// Changes the caller's settings of the web inbox; answers them all.
#[utoipa::path(
    patch,
    path = "/v1/profile",
    tag = "auth",
    request_body = ProfileChange,
    responses(
        (status = OK, body = ProfileAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "a field is invalid; `field` names it"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn change_profile(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Json(change): Json<ProfileChange>,
) -> Result<Json<ProfileAnswer>, AppError> {
    let store = state.credential_store()?;
    let mut profile = store.profile(caller.operator).await?;
    if let Some(language) = change.language {
        profile.language = language.map(|l| l.code().to_owned());
    }
    if let Some(notifications) = change.notifications {
        profile.notifications = notifications;
    }
    if let Some(sound) = change.sound {
        profile.sound = sound;
    }
    store.set_profile(caller.operator, profile.clone()).await?;
    Ok(Json(profile.into()))
}
