//! The one HTTP error type: renders `{"error": …, "field": …}` and never shows internals.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use zepix_engine::EngineError;
use zepix_model::SignalError;

/// An error answer: a status, a message for the caller, and the field at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the caller.
    pub message: String,
    /// The input field at fault.
    pub field: Option<String>,
    /// The offending value, when the field had one.
    pub value: Option<String>,
    /// What would have been accepted.
    pub expected: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
}

impl ApiError {
    /// An error with a status and a message.
    #[must_use]
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), field: None, value: None, expected: None }
    }

    /// Names the field at fault.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds what would have been accepted.
    #[must_use]
    pub fn with_expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// 400 naming a field.
    #[must_use]
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).with_field(field)
    }

    /// 404.
    #[must_use]
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 503 with a generic message; the detail goes to the log only.
    #[must_use]
    pub fn unavailable(what: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!("{what}: {detail}");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}; try again later"))
    }

    /// 500 with a generic message; the detail goes to the log only.
    #[must_use]
    pub fn internal(what: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!("{what}: {detail}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}; the server log has the detail"))
    }
}

impl From<SignalError> for ApiError {
    fn from(e: SignalError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: e.to_string(),
            field: Some(e.field),
            value: e.value,
            expected: Some(e.expected),
        }
    }
}

impl From<EngineError> for ApiError {
    /// Operator mistakes are answered as such (404, 409); storage and a stopped engine are 503,
    /// logged with their detail.
    fn from(e: EngineError) -> Self {
        match &e {
            EngineError::UnknownPlugin(_) | EngineError::UnknownPosition(_) => Self::not_found(e.to_string()),
            EngineError::Transition { .. } | EngineError::NotRunnable(..) | EngineError::Refused(_) => {
                Self::new(StatusCode::CONFLICT, e.to_string())
            }
            EngineError::Stopped => Self::unavailable("the engine is not running", &e),
            EngineError::Store(_) | EngineError::Inbox(_) => Self::unavailable("the engine's storage failed", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            field: self.field.as_deref(),
            value: self.value.as_deref(),
            expected: self.expected.as_deref(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use zepix_engine::StoreError;

    use super::*;

    async fn render(e: ApiError) -> (StatusCode, Value) {
        let response = e.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn renders_error_and_field_only_when_present() {
        let (status, body) = render(ApiError::bad_request("limit", "limit must be 1 to 1000")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, json!({"error": "limit must be 1 to 1000", "field": "limit"}));
        let (_, body) = render(ApiError::not_found("nothing")).await;
        assert_eq!(body, json!({"error": "nothing"}));
    }

    #[tokio::test]
    async fn storage_errors_do_not_leak_their_detail() {
        let e = EngineError::Store(StoreError::Db("disk I/O error at /var/secret/zepix.db".into()));
        let (status, body) = render(e.into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let text = body.to_string();
        assert!(!text.contains("/var/secret"), "{text}");
        assert!(text.contains("storage failed"), "{text}");
    }
}
