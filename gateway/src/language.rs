//! F3.8 language tools: translation of messages and drafts, and a reply suggested by a language
//! model, each through a provider a project's admin configures (none: the tools are off).
//!
//! - Translation speaks LibreTranslate's API (`POST {api_base}/translate`, JSON
//!   `{q, source: "auto", target, format: "text", api_key?}` answered by
//!   `{translatedText, detectedLanguage?: {language, confidence}}`); any server of that format
//!   serves (a self-hosted LibreTranslate, its commercial hosting, a compatible proxy).
//! - Suggestions speak the OpenAI-compatible chat completions API
//!   (`POST {api_base}/v1/chat/completions`, bearer key, `{model, messages}` answered by
//!   `choices[0].message.content`), which most model servers offer (OpenAI, vLLM, Ollama, …).
//!
//! Invariant: the settings hold API keys, so they live only sealed in the credential store (one
//! entry per project, beside the channels' ones) and in this process's memory; no `Debug`,
//! answer, log line or provider failure message shows a key.

use crate::credentials::{CredentialError, CredentialStore};
use lru::LruCache;
use parking_lot::Mutex;
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use switchboard_schemas::{ChannelId, MessageId, ProjectId};

/// Translations kept in memory, by (message, target language).
const CACHED_TRANSLATIONS: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TRANSLATE_TIMEOUT: Duration = Duration::from_secs(20);
const SUGGEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a provider's error text an answer repeats.
const DETAIL_CHARS: usize = 200;

/// A translation provider (LibreTranslate's API).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslationProvider {
    pub api_base: String,
    pub api_key: Option<String>,
}

/// A suggestion provider (OpenAI-compatible chat completions).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestionProvider {
    pub api_base: String,
    pub api_key: Option<String>,
    pub model: String,
}

/// A project's providers; each absent one is off.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageSettings {
    pub translation: Option<TranslationProvider>,
    pub suggestions: Option<SuggestionProvider>,
}

/// `Debug` of a provider: where it is, never its key.
macro_rules! debug_without_key {
    ($($kind:ty),*) => {$(
        impl std::fmt::Debug for $kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($kind))
                    .field("api_base", &self.api_base)
                    .finish_non_exhaustive()
            }
        }
    )*};
}
pub(crate) use debug_without_key;

debug_without_key!(TranslationProvider, SuggestionProvider);

impl std::fmt::Debug for LanguageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageSettings")
            .field("translation", &self.translation.is_some())
            .field("suggestions", &self.suggestions.is_some())
            .finish_non_exhaustive()
    }
}

/// A text in another language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub text: String,
    /// The language the provider detected the original in, when it said.
    pub source_language: Option<String>,
}

/// One message of a conversation for the model: `user` (the client) or `assistant` (the
/// operator's side).
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    pub role: &'static str,
    pub content: String,
}

/// Why a provider gave no answer, in words safe to show (no key in them).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderFailure(pub String);

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// (message, target) → (the text translated, its translation).
    cache: Mutex<LruCache<(MessageId, String), (String, Translated)>>,
}

/// See the module documentation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LanguageTools {
    inner: Arc<Inner>,
}

impl Default for LanguageTools {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(SUGGEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        let size = NonZeroUsize::new(CACHED_TRANSLATIONS).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Arc::new(Inner {
                http,
                cache: Mutex::new(LruCache::new(size)),
            }),
        }
    }
}

/// The credential store's key of a project's settings: derived from the project, so that it
/// never meets a channel's (channel ids are random).
fn entry(project: ProjectId) -> ChannelId {
    let digest = Sha256::new()
        .chain_update(b"switchboard language tools\0")
        .chain_update(project.as_uuid().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ChannelId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

impl LanguageTools {
    /// The project's settings (all off until an admin sets them).
    pub async fn settings(
        &self,
        credentials: &CredentialStore,
        project: ProjectId,
    ) -> Result<LanguageSettings, CredentialError> {
        match credentials.get_secret(entry(project)).await? {
            Some(sealed) => Ok(serde_json::from_slice(sealed.expose()).unwrap_or_else(|_| {
                tracing::warn!(%project, "the language tools' settings cannot be read");
                LanguageSettings::default()
            })),
            None => Ok(LanguageSettings::default()),
        }
    }

    /// Replaces the project's settings (all off: the entry is deleted); translations made
    /// before are forgotten.
    pub async fn store(
        &self,
        credentials: &CredentialStore,
        project: ProjectId,
        settings: &LanguageSettings,
    ) -> Result<(), CredentialError> {
        if settings == &LanguageSettings::default() {
            credentials.delete_secret(entry(project)).await?;
        } else {
            let bytes = serde_json::to_vec(settings).unwrap_or_default();
            credentials.put_secret(entry(project), &bytes).await?;
        }
        self.inner.cache.lock().clear();
        Ok(())
    }

    /// The translation of `message` (whose text is `text`) into `target` made before, if any.
    pub fn cached(&self, message: MessageId, target: &str, text: &str) -> Option<Translated> {
        let mut cache = self.inner.cache.lock();
        match cache.get(&(message, target.to_owned())) {
            Some((source, translated)) if source == text => Some(translated.clone()),
            _ => None,
        }
    }

    pub fn keep(&self, message: MessageId, target: &str, text: &str, translated: &Translated) {
        self.inner.cache.lock().put(
            (message, target.to_owned()),
            (text.to_owned(), translated.clone()),
        );
    }

    /// `text` in `target` (a language code), its language detected by the provider.
    pub async fn translate(
        &self,
        provider: &TranslationProvider,
        text: &str,
        target: &str,
    ) -> Result<Translated, ProviderFailure> {
        let mut body = json!({"q": text, "source": "auto", "target": target, "format": "text"});
        if let Some(key) = &provider.api_key {
            body["api_key"] = json!(key);
        }
        let request = self
            .inner
            .http
            .post(format!("{}/translate", provider.api_base))
            .timeout(TRANSLATE_TIMEOUT)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let answer = call("translation", request, provider.api_key.as_deref()).await?;
        let text = answer["translatedText"].as_str().ok_or_else(|| {
            ProviderFailure("the translation provider answered no translatedText".into())
        })?;
        Ok(Translated {
            text: text.to_owned(),
            source_language: answer["detectedLanguage"]["language"]
                .as_str()
                .map(str::to_owned),
        })
    }

    /// The model's next message after `messages`.
    pub async fn complete(
        &self,
        provider: &SuggestionProvider,
        messages: &[ChatMessage],
    ) -> Result<String, ProviderFailure> {
        let body = json!({"model": provider.model, "messages": messages});
        let mut request = self
            .inner
            .http
            .post(format!("{}/v1/chat/completions", provider.api_base))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = &provider.api_key {
            request = request.bearer_auth(key);
        }
        let answer = call("suggestion", request, provider.api_key.as_deref()).await?;
        answer["choices"][0]["message"]["content"]
            .as_str()
            .map(|text| text.trim().to_owned())
            .ok_or_else(|| {
                ProviderFailure(
                    "the suggestion provider answered no choices[0].message.content".into(),
                )
            })
    }
}

/// Sends a provider call and reads its JSON answer; a failure in words without `key`.
async fn call(
    what: &str,
    request: reqwest::RequestBuilder,
    key: Option<&str>,
) -> Result<Value, ProviderFailure> {
    let response = request.send().await.map_err(|error| {
        let why = if error.is_timeout() {
            "did not answer in time"
        } else if error.is_connect() {
            "cannot be reached"
        } else {
            "failed"
        };
        ProviderFailure(format!("the {what} provider {why}"))
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|_| ProviderFailure(format!("the {what} provider's answer was cut off")))?;
    if !status.is_success() {
        // LibreTranslate says why in `error`, OpenAI in `error.message`.
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let detail = body["error"]["message"]
            .as_str()
            .or_else(|| body["error"].as_str())
            .unwrap_or_default();
        let mut detail: String = detail.chars().take(DETAIL_CHARS).collect();
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            detail = detail.replace(key, "…");
        }
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        return Err(ProviderFailure(format!(
            "the {what} provider answered HTTP {}{detail}",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|_| ProviderFailure(format!("the {what} provider's answer is not JSON")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_projects_entry_is_its_own_and_stable() {
        let one = super::ProjectId::new();
        let two = super::ProjectId::new();
        assert_eq!(super::entry(one), super::entry(one));
        assert_ne!(super::entry(one), super::entry(two));
        assert_ne!(super::entry(one).as_uuid(), one.as_uuid());
    }

    #[test]
    fn settings_do_not_show_their_keys_in_debug() {
        let settings = super::LanguageSettings {
            translation: Some(super::TranslationProvider {
                api_base: "http://127.0.0.1:1".to_owned(),
                api_key: Some("very-secret-key-1234".to_owned()),
            }),
            suggestions: None,
        };
        assert!(!format!("{settings:?}").contains("very-secret"));
    }
}
