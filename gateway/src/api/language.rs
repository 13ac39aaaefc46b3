//! F3.8 over HTTP: the project's language tools ([`crate::language`]). Admins set the providers
//! (`/v1/project/translation/settings`, keys write-only, answered masked); operators see
//! whether they are on (`GET /v1/project/translation`), translate a message of a dialog into
//! their language, translate a draft into the client's, and ask for a suggested reply. Who may
//! open the dialog is `projections::query`'s decision, as for every dialog route. Off (no
//! provider): 409 `translation_off` / `suggestions_off`; a provider's failure: 502.

use super::caller::{Admin, Operator};
use super::channels::{http_base, required};
use super::dialogs::view::denied;
use super::extract::dialog_id;
use super::{AppError, AppState, Json};
use crate::channels::settings::masked;
use crate::language::{
    ChatMessage, LanguageSettings, ProviderFailure, SuggestionProvider, TranslationProvider,
};
use crate::readmodels::Kind;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use switchboard_projections::query::{self, Access, QueryCaller};
use switchboard_projections::timeline::{Anchor, ItemId, ItemKind, Show, TimelineItem, Window};
use switchboard_schemas::{DialogId, MessageId};
use utoipa::ToSchema;

/// Longest text translated at once, in characters.
pub const MAX_TEXT: usize = 10_000;
/// How many of the dialog's last messages a suggestion is written from.
pub const SUGGESTION_CONTEXT: usize = 20;

/// Whether the project's language tools are on.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageToolsState {
    /// Messages and drafts can be translated.
    pub translation: bool,
    /// Replies can be suggested.
    pub suggestions: bool,
}

/// A provider as an admin sees it: the key only masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub api_base: String,
    /// `…` and the key's last 4 characters; none without a key.
    pub api_key: Option<String>,
    /// The model (suggestions only).
    pub model: Option<String>,
}

/// The project's providers; an absent one is off.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageSettingsView {
    pub translation: Option<ProviderView>,
    pub suggestions: Option<ProviderView>,
}

/// A translation provider speaking LibreTranslate's API.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTranslationProvider {
    /// Its base URL: `POST {api_base}/translate` is called.
    pub api_base: String,
    /// Sent as `api_key`; absent: the stored one is kept, `""`: none.
    pub api_key: Option<String>,
}

/// A suggestion provider speaking the OpenAI-compatible chat completions API.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuggestionProvider {
    /// Its base URL: `POST {api_base}/v1/chat/completions` is called.
    pub api_base: String,
    /// Sent as a bearer token; absent: the stored one is kept, `""`: none.
    pub api_key: Option<String>,
    pub model: String,
}

/// The providers to use from now on; an absent one is turned off. No `Debug`: keys.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLanguageSettings {
    pub translation: Option<NewTranslationProvider>,
    pub suggestions: Option<NewSuggestionProvider>,
}

crate::language::debug_without_key!(NewTranslationProvider, NewSuggestionProvider);

impl std::fmt::Debug for NewLanguageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewLanguageSettings(<redacted>)")
    }
}

/// A message of the dialog to translate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateMessage {
    /// The message's id (a timeline item's `id`).
    #[schema(value_type = uuid::Uuid)]
    pub message: String,
    /// The language to translate into (BCP 47: `en`, `pt-BR`); default: the caller's profile
    /// language.
    pub to: Option<String>,
}

/// A text about to be sent, to translate into the client's language.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateDraft {
    pub text: String,
    /// The language to translate into; default: the client's (`language` of the card).
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranslationAnswer {
    pub text: String,
    /// The original's language as the provider detected it, when it said.
    pub source_language: Option<String>,
    pub target_language: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionAnswer {
    /// The suggested reply, in the client's language.
    pub text: String,
}

fn view(settings: &LanguageSettings) -> LanguageSettingsView {
    let key = |key: &Option<String>| key.as_deref().map(masked);
    LanguageSettingsView {
        translation: settings.translation.as_ref().map(|p| ProviderView {
            api_base: p.api_base.clone(),
            api_key: key(&p.api_key),
            model: None,
        }),
        suggestions: settings.suggestions.as_ref().map(|p| ProviderView {
            api_base: p.api_base.clone(),
            api_key: key(&p.api_key),
            model: Some(p.model.clone()),
        }),
    }
}

/// A language code (BCP 47's shape: a 2–3 letter language, then subtags of 1–8 letters or
/// digits), or a 400 naming `field`.
pub fn language(field: &str, code: &str) -> Result<String, AppError> {
    let mut parts = code.split('-');
    let primary = parts.next().unwrap_or_default();
    let well_formed = code.len() <= 35
        && (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if well_formed {
        Ok(code.to_owned())
    } else {
        Err(AppError::bad_request(
            field,
            "a language code expected (BCP 47, e.g. en, ru, pt-BR)",
        ))
    }
}

fn text_to_translate(field: &str, text: &str) -> Result<(), AppError> {
    if text.trim().is_empty() {
        return Err(AppError::bad_request(
            field,
            "there is no text to translate",
        ));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(AppError::bad_request(
            field,
            format!("at most {MAX_TEXT} characters are translated at once"),
        ));
    }
    Ok(())
}

/// A new key: absent keeps `stored`, blank means none.
fn key(given: Option<String>, stored: Option<&String>) -> Option<String> {
    match given {
        None => stored.cloned(),
        Some(key) if key.trim().is_empty() => None,
        Some(key) => Some(key),
    }
}

fn checked_key(field: &str, key: &Option<String>) -> Result<(), AppError> {
    match key {
        Some(key) if key.len() > 4096 || key.chars().any(char::is_control) => Err(
            AppError::bad_request(field, "a key of at most 4096 printable characters expected"),
        ),
        _ => Ok(()),
    }
}

impl NewLanguageSettings {
    /// The settings to store, every field checked, keys not given kept from `stored`.
    fn settings(self, stored: &LanguageSettings) -> Result<LanguageSettings, AppError> {
        let translation = match self.translation {
            None => None,
            Some(new) => {
                let api_key = key(
                    new.api_key,
                    stored.translation.as_ref().and_then(|p| p.api_key.as_ref()),
                );
                checked_key("translation.api_key", &api_key)?;
                Some(TranslationProvider {
                    api_base: http_base("translation.api_base", new.api_base)?,
                    api_key,
                })
            }
        };
        let suggestions = match self.suggestions {
            None => None,
            Some(new) => {
                required("suggestions.model", &new.model)?;
                let api_key = key(
                    new.api_key,
                    stored.suggestions.as_ref().and_then(|p| p.api_key.as_ref()),
                );
                checked_key("suggestions.api_key", &api_key)?;
                Some(SuggestionProvider {
                    api_base: http_base("suggestions.api_base", new.api_base)?,
                    api_key,
                    model: new.model.trim().to_owned(),
                })
            }
        };
        Ok(LanguageSettings {
            translation,
            suggestions,
        })
    }
}

impl From<ProviderFailure> for AppError {
    fn from(failure: ProviderFailure) -> Self {
        AppError::BadGateway(failure.0)
    }
}

async fn settings_of(state: &AppState, caller: &QueryCaller) -> Result<LanguageSettings, AppError> {
    Ok(state
        .language
        .settings(state.credential_store()?, caller.project)
        .await?)
}

fn translation_of(settings: LanguageSettings) -> Result<TranslationProvider, AppError> {
    settings.translation.ok_or_else(|| AppError::Refused {
        code: "translation_off",
        message: "the project has no translation provider (an admin sets one)".to_owned(),
    })
}

/// Whether the project's language tools are on.
#[utoipa::path(
    get,
    path = "/v1/project/translation",
    tag = "language",
    responses(
        (status = OK, body = LanguageToolsState),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn tools(
    State(state): State<AppState>,
    Operator(caller): Operator,
) -> Result<Json<LanguageToolsState>, AppError> {
    let settings = settings_of(&state, &caller).await?;
    Ok(Json(LanguageToolsState {
        translation: settings.translation.is_some(),
        suggestions: settings.suggestions.is_some(),
    }))
}

/// The project's language providers, keys masked.
#[utoipa::path(
    get,
    path = "/v1/project/translation/settings",
    operation_id = "language_settings",
    tag = "language",
    responses(
        (status = OK, body = LanguageSettingsView),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn settings(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<LanguageSettingsView>, AppError> {
    Ok(Json(view(&settings_of(&state, &caller).await?)))
}

/// Sets the project's language providers (sealed in the credential store, never in the log);
/// an absent one is off.
#[utoipa::path(
    put,
    path = "/v1/project/translation/settings",
    operation_id = "set_language_settings",
    tag = "language",
    request_body = NewLanguageSettings,
    responses(
        (status = OK, body = LanguageSettingsView),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn set_settings(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Json(body): Json<NewLanguageSettings>,
) -> Result<Json<LanguageSettingsView>, AppError> {
    let stored = settings_of(&state, &caller).await?;
    let settings = body.settings(&stored)?;
    state
        .language
        .store(state.credential_store()?, caller.project, &settings)
        .await?;
    Ok(Json(view(&settings)))
}

/// Turns the project's language tools off: the providers and their keys are deleted.
#[utoipa::path(
    delete,
    path = "/v1/project/translation/settings",
    operation_id = "clear_language_settings",
    tag = "language",
    responses(
        (status = OK, body = LanguageSettingsView),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("admin"))),
)]
pub async fn clear_settings(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<LanguageSettingsView>, AppError> {
    let off = LanguageSettings::default();
    state
        .language
        .store(state.credential_store()?, caller.project, &off)
        .await?;
    Ok(Json(view(&off)))
}

/// What a dialog's read gives: the client's language (card) and timeline items.
type Read = (Option<String>, Vec<TimelineItem>);

/// The client's language and, with `page` (what to show, where, how many), those items of the
/// dialog's timeline, if the caller may see the dialog.
async fn read_dialog(
    state: &AppState,
    caller: QueryCaller,
    dialog: DialogId,
    page: Option<(Show, Window, usize)>,
) -> Result<Read, AppError> {
    let cards = state.readers(Kind::Card)?;
    let timelines = state.readers(Kind::Timeline)?;
    let found: Result<Read, Access> = state
        .readers(Kind::Dialogs)?
        .query(move |dialogs| {
            let card = cards.run(|cards| query::open_card(dialogs, cards, &caller, dialog))?;
            let card = match card {
                Ok(card) => card,
                Err(denied) => return Ok(Err(denied)),
            };
            let Some((show, window, limit)) = page else {
                return Ok(Ok((card.profile.language, Vec::new())));
            };
            let page = timelines.run(|timelines| {
                query::open_timeline(dialogs, timelines, &caller, dialog, show, window, limit)
            })?;
            Ok(page.map(|page| (card.profile.language, page.items)))
        })
        .await?;
    found.map_err(denied)
}

/// Translate a message of the dialog (the client's, usually) into the caller's language.
#[utoipa::path(
    post,
    path = "/v1/dialogs/{dialog}/translate",
    tag = "language",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog")),
    request_body = TranslateMessage,
    responses(
        (status = OK, body = TranslationAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "`message` or `to` is invalid, or `to` is needed (no profile language)"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = CONFLICT, body = super::ErrorAnswer, description = "`translation_off`: the project has no translation provider"),
        (status = BAD_GATEWAY, body = super::ErrorAnswer, description = "the provider failed"),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn translate(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Json(body): Json<TranslateMessage>,
) -> Result<Json<TranslationAnswer>, AppError> {
    let dialog = dialog_id(&dialog)?;
    let message: MessageId = body
        .message
        .parse()
        .map_err(|_| AppError::bad_request("message", "a message id (a UUID) expected"))?;
    let given = body.to.map(|to| language("to", &to)).transpose()?;
    let around = Window::Around(Anchor::Item(*message.as_uuid()));
    let page = Some((Show::default(), around, 3));
    let (_, items) = read_dialog(&state, caller, dialog, page).await?;
    let provider = translation_of(settings_of(&state, &caller).await?)?;
    let target = match given {
        Some(to) => to,
        None => {
            let profile = state.credential_store()?.profile(caller.operator).await?;
            let own = profile.language.ok_or_else(|| {
                AppError::bad_request("to", "your profile has no language: give `to`")
            })?;
            language("to", &own)?
        }
    };
    let text = items
        .into_iter()
        .find(|item| item.id == ItemId::Message(message))
        .map(|item| item.text)
        .ok_or_else(|| AppError::NotFound("no such message in the dialog".to_owned()))?;
    text_to_translate("message", &text)?;
    let translated = match state.language.cached(message, &target, &text) {
        Some(translated) => translated,
        None => {
            let translated = state.language.translate(&provider, &text, &target).await?;
            state.language.keep(message, &target, &text, &translated);
            translated
        }
    };
    Ok(Json(TranslationAnswer {
        text: translated.text,
        source_language: translated.source_language,
        target_language: target,
    }))
}

/// Translate a reply about to be sent into the client's language (the card's `language`).
#[utoipa::path(
    post,
    path = "/v1/dialogs/{dialog}/translate-reply",
    tag = "language",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog")),
    request_body = TranslateDraft,
    responses(
        (status = OK, body = TranslationAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer, description = "`text` or `to` is invalid, or `to` is needed (the card has no language)"),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = CONFLICT, body = super::ErrorAnswer, description = "`translation_off`: the project has no translation provider"),
        (status = BAD_GATEWAY, body = super::ErrorAnswer, description = "the provider failed"),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn translate_reply(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
    Json(body): Json<TranslateDraft>,
) -> Result<Json<TranslationAnswer>, AppError> {
    let dialog = dialog_id(&dialog)?;
    text_to_translate("text", &body.text)?;
    let given = body.to.map(|to| language("to", &to)).transpose()?;
    // The card only: no page of the timeline.
    let (client, _) = read_dialog(&state, caller, dialog, None).await?;
    let provider = translation_of(settings_of(&state, &caller).await?)?;
    let target = match given {
        Some(to) => to,
        None => {
            let client = client.ok_or_else(|| {
                AppError::bad_request("to", "the client's card has no language: give `to`")
            })?;
            language("to", &client)?
        }
    };
    let translated = state
        .language
        .translate(&provider, &body.text, &target)
        .await?;
    Ok(Json(TranslationAnswer {
        text: translated.text,
        source_language: translated.source_language,
        target_language: target,
    }))
}

/// The instruction a suggestion is written under.
fn system_prompt(client_language: Option<&str>) -> String {
    let language = client_language.map_or_else(
        || "the language the client writes in".to_owned(),
        |code| format!("the client's language ({code})"),
    );
    format!(
        "You are an operator of a customer support inbox. Write the operator's next reply to \
         the client in the conversation that follows, in {language}. Answer with the reply's \
         text only."
    )
}

/// Suggest the operator's next reply from the dialog's last messages, in the client's language.
#[utoipa::path(
    post,
    path = "/v1/dialogs/{dialog}/suggest-reply",
    tag = "language",
    params(("dialog" = uuid::Uuid, Path, description = "The dialog")),
    responses(
        (status = OK, body = SuggestionAnswer),
        (status = BAD_REQUEST, body = super::ErrorAnswer),
        (status = UNAUTHORIZED, body = super::ErrorAnswer),
        (status = FORBIDDEN, body = super::ErrorAnswer),
        (status = NOT_FOUND, body = super::ErrorAnswer),
        (status = CONFLICT, body = super::ErrorAnswer, description = "`suggestions_off`: the project has no suggestion provider; `no_messages`: nothing to answer"),
        (status = BAD_GATEWAY, body = super::ErrorAnswer, description = "the provider failed"),
        (status = SERVICE_UNAVAILABLE, body = super::ErrorAnswer),
    ),
    security(("bearer" = []), ("session" = [])),
    extensions(("x-sb-access" = json!("operator"))),
)]
pub async fn suggest_reply(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(dialog): Path<String>,
) -> Result<Json<SuggestionAnswer>, AppError> {
    let dialog = dialog_id(&dialog)?;
    let show = Show {
        bot_messages: true,
        notes: false,
        service_entries: false,
    };
    let window = Window::Older(None);
    let page = Some((show, window, SUGGESTION_CONTEXT));
    let (client, items) = read_dialog(&state, caller, dialog, page).await?;
    let provider = settings_of(&state, &caller)
        .await?
        .suggestions
        .ok_or_else(|| AppError::Refused {
            code: "suggestions_off",
            message: "the project has no suggestion provider (an admin sets one)".to_owned(),
        })?;
    let mut messages = vec![ChatMessage {
        role: "system",
        content: system_prompt(client.as_deref()),
    }];
    // The page is newest first; the model reads the conversation in order.
    messages.extend(items.into_iter().rev().filter_map(|item| {
        let role = match item.kind {
            ItemKind::Inbound => "user",
            ItemKind::Outbound(_) => "assistant",
            _ => return None,
        };
        (!item.text.trim().is_empty()).then_some(ChatMessage {
            role,
            content: item.text,
        })
    }));
    if messages.len() == 1 {
        return Err(AppError::Refused {
            code: "no_messages",
            message: "the dialog has no message with text to answer".to_owned(),
        });
    }
    let text = state.language.complete(&provider, &messages).await?;
    Ok(Json(SuggestionAnswer { text }))
}

#[cfg(test)]
mod tests {
    use super::language;

    #[test]
    fn language_codes_of_bcp_47_shape_pass_and_others_name_the_field() {
        for good in ["en", "ru", "pt-BR", "zh-Hans", "sgn-CH-DE", "es-419"] {
            assert_eq!(language("to", good).unwrap(), good);
        }
        for bad in [
            "",
            "e",
            "english",
            "en_US",
            "en-",
            "-en",
            "ру",
            "en-abcdefghi",
            "1a",
        ] {
            let error = language("to", bad).unwrap_err();
            assert!(
                matches!(error, crate::api::AppError::BadRequest { field: Some(ref f), .. } if f == "to"),
                "{bad}"
            );
        }
    }
}
