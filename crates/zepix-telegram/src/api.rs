//! A lean Telegram Bot API client: `<api_url>/bot<token>/<method>` with JSON bodies (multipart
//! for photos), the `{ok, result, description, parameters}` envelope, and errors split into what
//! to wait for (429 `retry_after`), what to retry later (network, 5xx) and what to drop (4xx).

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::TelegramError;

/// An incoming update.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    /// Confirmed by asking for `update_id + 1`.
    pub update_id: i64,
    /// A message.
    pub message: Option<Message>,
    /// An inline button press.
    pub callback_query: Option<CallbackQuery>,
}

/// A message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Id within its chat.
    pub message_id: i64,
    /// Sender (absent in channels).
    pub from: Option<User>,
    /// The chat.
    pub chat: Chat,
    /// Text, if any.
    pub text: Option<String>,
}

/// A Telegram user.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// User id: what authorization goes by.
    pub id: i64,
}

/// A chat.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// Chat id (negative for groups).
    pub id: i64,
}

/// An inline button press.
#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    /// Answered with `answerCallbackQuery`.
    pub id: String,
    /// Who pressed.
    pub from: User,
    /// The message holding the button.
    pub message: Option<Message>,
    /// The button's data.
    pub data: Option<String>,
}

/// An inline keyboard: rows of buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keyboard {
    /// Rows.
    pub inline_keyboard: Vec<Vec<Button>>,
}

/// An inline button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Button {
    /// Label.
    pub text: String,
    /// Sent back on press (at most 64 bytes).
    pub callback_data: String,
}

/// A command for the Telegram menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotCommand {
    /// 1–32 lower-case letters, digits or `_`.
    pub command: String,
    /// Shown beside it.
    pub description: String,
}

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 429: wait exactly this long, then send again.
    #[error("too many requests: retry after {0:?}")]
    RetryAfter(Duration),
    /// Telegram could not be reached or failed (network, timeout, 5xx): try again later.
    #[error("Telegram unreachable: {0}")]
    Unreachable(String),
    /// Telegram refused the request (4xx): sending it again would not help.
    #[error("Telegram refused ({code}): {description}")]
    Refused {
        /// HTTP or API error code.
        code: u16,
        /// Telegram's description.
        description: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    #[serde(default)]
    description: String,
    error_code: Option<u16>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// A bot's connection to the Bot API.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    /// `<api_url>/bot<token>`: never logged.
    base: String,
}

impl fmt::Debug for BotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotApi").finish_non_exhaustive()
    }
}

/// Seconds a `getUpdates` call waits for an update.
pub const POLL_TIMEOUT: u64 = 25;

impl BotApi {
    /// A client for one bot. Requests time out after `POLL_TIMEOUT` plus 10 s, above the long
    /// poll.
    ///
    /// # Errors
    /// The TLS client cannot be built.
    pub fn new(api_url: &str, token: &str) -> Result<Self, TelegramError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(POLL_TIMEOUT + 10))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TelegramError::Client(e.to_string()))?;
        Ok(Self { http, base: format!("{}/bot{token}", api_url.trim_end_matches('/')) })
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, body: &Value) -> Result<T, ApiError> {
        let request = self.http.post(format!("{}/{method}", self.base)).json(body);
        self.finish(request).await
    }

    async fn finish<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ApiError> {
        // `without_url`: the URL holds the token.
        let response = request.send().await.map_err(|e| ApiError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| ApiError::Unreachable(e.without_url().to_string()))?;
        let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
            return Err(if status.is_server_error() || status.is_success() {
                ApiError::Unreachable(format!("HTTP {status} without a Bot API answer"))
            } else {
                ApiError::Refused { code: status.as_u16(), description: format!("HTTP {status}") }
            });
        };
        if let Some(after) = envelope.parameters.and_then(|p| p.retry_after) {
            return Err(ApiError::RetryAfter(Duration::from_secs(after)));
        }
        if !envelope.ok {
            let code = envelope.error_code.unwrap_or(status.as_u16());
            return Err(if code >= 500 {
                ApiError::Unreachable(envelope.description)
            } else {
                ApiError::Refused { code, description: envelope.description }
            });
        }
        serde_json::from_value(envelope.result.unwrap_or(Value::Null))
            .map_err(|e| ApiError::Refused { code: status.as_u16(), description: format!("unexpected result: {e}") })
    }

    /// Updates after `offset`, waiting up to `timeout` seconds for one.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn get_updates(&self, offset: i64, timeout: u64) -> Result<Vec<Update>, ApiError> {
        self.call(
            "getUpdates",
            &json!({"offset": offset, "timeout": timeout, "allowed_updates": ["message", "callback_query"]}),
        )
        .await
    }

    /// The bot's @username.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn get_me(&self) -> Result<Option<String>, ApiError> {
        let me: Value = self.call("getMe", &json!({})).await?;
        Ok(me.get("username").and_then(Value::as_str).map(str::to_owned))
    }

    /// Sets the commands shown in the Telegram menu.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn set_my_commands(&self, commands: &[BotCommand]) -> Result<(), ApiError> {
        self.call::<bool>("setMyCommands", &json!({"commands": commands})).await.map(drop)
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn send_message(
        &self,
        chat: i64,
        text: &str,
        keyboard: Option<&Keyboard>,
        silent: bool,
    ) -> Result<(), ApiError> {
        let mut body = json!({"chat_id": chat, "text": text, "disable_notification": silent});
        if let Some(k) = keyboard {
            body["reply_markup"] = json!(k);
        }
        self.call::<Value>("sendMessage", &body).await.map(drop)
    }

    /// Replaces a message's text (and removes its buttons).
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn edit_message_text(&self, chat: i64, message_id: i64, text: &str) -> Result<(), ApiError> {
        self.call::<Value>("editMessageText", &json!({"chat_id": chat, "message_id": message_id, "text": text}))
            .await
            .map(drop)
    }

    /// Answers a button press (stops the client's spinner).
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn answer_callback_query(&self, id: &str, text: &str) -> Result<(), ApiError> {
        self.call::<bool>("answerCallbackQuery", &json!({"callback_query_id": id, "text": text})).await.map(drop)
    }

    /// Uploads a PNG as a photo with a caption (multipart/form-data).
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn send_photo(&self, chat: i64, png: Vec<u8>, caption: &str) -> Result<(), ApiError> {
        let part = reqwest::multipart::Part::bytes(png)
            .file_name("chart.png")
            .mime_str("image/png")
            .map_err(|e| ApiError::Refused { code: 0, description: e.without_url().to_string() })?;
        let form = reqwest::multipart::Form::new()
            .text("chat_id", chat.to_string())
            .text("caption", caption.to_owned())
            .part("photo", part);
        let request = self.http.post(format!("{}/sendPhoto", self.base)).multipart(form);
        self.finish::<Value>(request).await.map(drop)
    }
}
