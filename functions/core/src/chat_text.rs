//! The limits of chat text as the chat functions answer them: the OpenAPI schema of a
//! message's text and the 400 for text outside the limits.

use origo_shared::ApiError;
use origo_shared::chat::MAX_CHAT_CHARS;

/// 1 to 4000 characters, not only whitespace.
#[cfg(feature = "openapi")]
pub fn text_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let not_only_whitespace = format!("[^{}", &crate::input_schemas::WHITESPACE[1..]);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_CHAT_CHARS))
        .pattern(Some(not_only_whitespace))
        .build()
        .into()
}

/// The answer to text outside the limits: a 400 that says which limit.
pub fn bad_text(text: &str) -> ApiError {
    let n = text.chars().count();
    if n > MAX_CHAT_CHARS {
        ApiError::bad_request(format!("a message is at most {MAX_CHAT_CHARS} characters; this one has {n}"))
    } else {
        ApiError::bad_request(format!("text must be 1..={MAX_CHAT_CHARS} characters, not only whitespace"))
    }
}
