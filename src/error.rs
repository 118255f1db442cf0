//! Errors that become responses: [`Error`] for a handler's `?`, and [`JsonRejection`], what
//! [`Body::json`](crate::Body::json) answers for a body it cannot read.
//!
//! A handler returns `Result<T, E>` with `T` and `E` both [`IntoResponse`]. `Error` carries a
//! status and a message the client may read; any other error (`std::io::Error`,
//! `serde_json::Error`, …) converts into it with `?` as a `500` whose cause is logged with the
//! route and never shown to the client.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;
use imphnen_engine::Response;
use serde::de::DeserializeOwned;

use crate::IntoResponse;

/// An HTTP error: a status, a message for the client, and the cause for the log.
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, Ctx, Error};
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new(Config::default());
/// app.get("/rooms/:room", |ctx: Ctx| -> Result<String, Error> {
///     let room = ctx.param("room").unwrap_or_default();
///     if room != "lobby" {
///         return Err(Error::not_found(format!("no room {room}")));
///     }
///     let count: u32 = "12".parse()?; // any std error: a logged 500
///     Ok(format!("{count} in the lobby"))
/// });
///
/// let server = TestServer::start(app)?;
/// assert_eq!(server.get("/rooms/lobby")?.text(), "12 in the lobby");
/// let missing = server.get("/rooms/attic")?;
/// assert_eq!(missing.status, 404);
/// assert_eq!(missing.text(), r#"{"error":"no room attic"}"#);
/// # Ok(())
/// # }
/// ```
pub struct Error {
    status: StatusCode,
    message: Cow<'static, str>,
    /// The part of the request the error is about (a JSON field's path).
    field: Option<String>,
    /// What failed inside the server: logged, never sent.
    cause: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    /// An error with `status` (a [`StatusCode`] or its number, as
    /// [`Response::with_status`] takes) and a `message` the client reads.
    ///
    /// ```
    /// use imphnen::Error;
    /// use imphnen::http::StatusCode;
    ///
    /// let limited = Error::new(StatusCode::TOO_MANY_REQUESTS, "slow down");
    /// assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(Error::new(402, "pay first").status(), 402);
    /// ```
    ///
    /// # Panics
    /// When a number is not a status code (`100..=999`): a bug in the program, which a
    /// handler's panic turns into a `500`.
    pub fn new<S>(status: S, message: impl Into<Cow<'static, str>>) -> Error
    where
        S: TryInto<StatusCode>,
        S::Error: fmt::Debug,
    {
        Error {
            status: status
                .try_into()
                .expect("a status code is a number in 100..=999"),
            message: message.into(),
            field: None,
            cause: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(StatusCode::NOT_FOUND, message)
    }

    /// 409 Conflict.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(StatusCode::CONFLICT, message)
    }

    /// 422 Unprocessable Content.
    pub fn unprocessable(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 500 Internal Server Error, with `cause` for the log (the client reads only
    /// "Internal Server Error").
    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Error {
        Error {
            cause: Some(cause.into()),
            ..Error::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }

    /// Names the part of the request the error is about (sent as `"field"`).
    pub fn with_field(mut self, field: impl Into<String>) -> Error {
        self.field = Some(field.into());
        self
    }

    /// The status code (it compares with a number too: `err.status() == 404`).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message the client reads.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field the error is about, if one was named.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

/// Any standard error is a 500 whose cause is logged (`?` on an `io::Error`, a parse error…).
/// For a status of your own, build an [`Error`] (`map_err(|e| Error::bad_request(..))`).
impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(cause: E) -> Error {
        Error::internal(cause)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("status", &self.status)
            .field("message", &self.message)
            .field("field", &self.field)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// The response: the status, and `{"error": message}` (with `"field"` when named) as JSON.
/// A server error is logged with its cause (inside the request's span: method and route).
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            let status = self.status.as_u16();
            match &self.cause {
                Some(cause) => tracing::error!(status, %cause, "HTTP handler failed"),
                None => tracing::error!(status, message = %self.message, "HTTP handler failed"),
            }
        }
        let body = match &self.field {
            Some(field) => serde_json::json!({ "error": self.message, "field": field }),
            None => serde_json::json!({ "error": self.message }),
        };
        Response::json_bytes(body.to_string()).with_status(self.status)
    }
}

/// Why a request body could not be read as JSON, with the status axum gives each case.
#[derive(Debug)]
pub enum JsonRejection {
    /// 415: the request has no `Content-Type: application/json` (or `application/*+json`).
    UnsupportedMediaType,
    /// 400: the body is not JSON (or ends early).
    Syntax(String),
    /// 422: JSON of the wrong shape: a missing field, a wrong type; `path` is the field's
    /// path (`"items[2].name"`, `"."` for the whole body).
    Data {
        /// Where in the document.
        path: String,
        /// What was wrong there.
        message: String,
    },
}

impl JsonRejection {
    /// The status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            JsonRejection::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::Syntax(_) => StatusCode::BAD_REQUEST,
            JsonRejection::Data { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl fmt::Display for JsonRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonRejection::UnsupportedMediaType => {
                f.write_str("expected a request with Content-Type: application/json")
            }
            JsonRejection::Syntax(message) => write!(f, "the body is not valid JSON: {message}"),
            JsonRejection::Data { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Error {
        let status = rejection.status();
        match rejection {
            JsonRejection::Data { path, message } => Error::new(status, message).with_field(path),
            other => Error::new(status, other.to_string()),
        }
    }
}

impl IntoResponse for JsonRejection {
    fn into_response(self) -> Response {
        Error::from(self).into_response()
    }
}

/// `true` for `application/json` and `application/<anything>+json`, parameters allowed.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.is_char_boundary(subtype.len() - 5)
                && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Reads `body` as JSON of type `T`, given the request's `Content-Type`.
pub(crate) fn read_json<T: DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T, JsonRejection> {
    if !content_type.is_some_and(is_json) {
        return Err(JsonRejection::UnsupportedMediaType);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            JsonRejection::Data {
                path,
                message: inner.to_string(),
            }
        } else {
            JsonRejection::Syntax(inner.to_string())
        }
    })?;
    // Trailing characters after the document.
    de.end().map_err(|e| JsonRejection::Syntax(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_media_types() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonx",
            "json",
            "application/+json",
            "",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
