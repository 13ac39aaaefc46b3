//! The contract: the OpenAPI 3.1 document of `/v1`, generated from the route table
//! ([`super::routes`]) and served at `/v1/openapi.json`.
//!
//! Every operation carries `x-sb-access`, the access it declares ([`super::access::Need`]); the
//! authorization matrix test reads it from this document, so that a route cannot exist
//! undeclared or untested.

use super::error::ErrorAnswer;
use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The name of the operation extension that states a route's access.
pub const ACCESS_EXTENSION: &str = "x-sb-access";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "The operator API of Switchboard, an event-sourced omnichannel inbox. \
                       Every error answers `{\"error\":{\"code\",\"message\",\"field\"}}`.",
        version = "1",
    ),
    components(schemas(ErrorAnswer)),
    modifiers(&SecuritySchemes),
)]
pub(super) struct ApiDoc;

/// Bearer tokens (sessions and API tokens) and the browser's session cookie.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("sb_session"))),
        );
    }
}

/// The serialised document, built once when the router is.
#[derive(Debug, Clone)]
pub(super) struct Document(pub Arc<Bytes>);

impl Document {
    pub(super) fn new(openapi: &utoipa::openapi::OpenApi) -> Self {
        let json = serde_json::to_vec(openapi).expect("an OpenAPI document always serialises");
        Document(Arc::new(Bytes::from(json)))
    }
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = OK, description = "The OpenAPI 3.1 document", content_type = "application/json")),
    extensions(("x-sb-access" = json!("public"))),
)]
pub(super) async fn document(Extension(document): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::clone(&document.0),
    )
        .into_response()
}
