//! The route table: every route of `/v1`, grouped by resource. The router, the OpenAPI document
//! and (through the document's `x-sb-access`) the authorization matrix test all come from it.

use super::openapi::ApiDoc;
use super::{
    AppState, accounts, attachments, audit, auth, bulk, channels, commands, counters, dialogs,
    export, health, language, live, openapi, project, search, webhooks,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn table() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(openapi::document))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(accounts::create_project))
        .routes(routes!(accounts::add_operator))
        .routes(routes!(accounts::change_role))
        .routes(routes!(accounts::deactivate))
        .routes(routes!(accounts::create_token, accounts::list_tokens))
        .routes(routes!(accounts::revoke_token))
        .routes(routes!(dialogs::list::list, commands::dialog::register))
        .routes(routes!(dialogs::list::query))
        .routes(routes!(dialogs::view::dialog))
        .routes(routes!(dialogs::view::timeline))
        .routes(routes!(dialogs::card::card))
        .routes(routes!(dialogs::view::attachments))
        .routes(routes!(audit::dialog_events))
        .routes(routes!(dialogs::as_of::as_of))
        .routes(routes!(audit::project_events))
        .routes(routes!(search::search))
        .routes(routes!(counters::counters))
        .routes(routes!(counters::tag_picker))
        .routes(routes!(commands::dialog::act))
        .routes(routes!(project::definitions))
        .routes(routes!(project::act))
        .routes(routes!(live::live))
        .routes(routes!(bulk::bulk))
        .routes(routes!(bulk::job))
        .routes(routes!(accounts::setup))
        .routes(routes!(channels::connect, channels::list))
        .routes(routes!(channels::disconnect))
        .routes(routes!(webhooks::telegram))
        .routes(routes!(webhooks::whatsapp_verify, webhooks::whatsapp))
        .routes(routes!(webhooks::vk))
        .routes(routes!(export::export))
        .routes(routes!(attachments::upload))
        .routes(routes!(attachments::upload_download))
        .routes(routes!(attachments::dialog_download))
        .routes(routes!(auth::profile, auth::change_profile))
        .routes(routes!(language::tools))
        .routes(routes!(
            language::settings,
            language::set_settings,
            language::clear_settings
        ))
        .routes(routes!(language::translate))
        .routes(routes!(language::translate_reply))
        .routes(routes!(language::suggest_reply))
}
