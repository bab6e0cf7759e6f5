//! What the Worker asks of a Durable Object's storage, and what it answers: the records that
//! live with a room (seats, chat history) or in the node registry are read and written by the
//! functions through these operations, sent to the object that owns them (`POST /storage`).
//! Values are the records' JSON text.

use serde::{Deserialize, Serialize};

/// Most entries one `list` answers with; a longer listing is refused rather than cut short.
pub const MAX_LIST: usize = 10_000;
/// Largest value stored (Durable Object storage allows 128 KiB per value).
pub const MAX_VALUE_BYTES: usize = 128 << 10;

/// One storage operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageOp {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    /// Every entry whose key starts with `prefix`, in key order.
    List {
        prefix: String,
    },
    /// Add `delta` to the counter `key` (made with a lifetime of `ttl_ms`).
    Increment {
        key: String,
        delta: u64,
        ttl_ms: u64,
    },
}

impl StorageOp {
    /// The key or prefix the operation touches.
    pub fn key(&self) -> &str {
        match self {
            StorageOp::Get { key }
            | StorageOp::Put { key, .. }
            | StorageOp::Delete { key }
            | StorageOp::Increment { key, .. } => key,
            StorageOp::List { prefix } => prefix,
        }
    }

    /// Checks an operation that arrived over a request.
    pub fn validate(&self) -> Result<(), String> {
        if self.key().is_empty() || self.key().len() > 2048 {
            return Err("a key is 1-2048 bytes".into());
        }
        match self {
            StorageOp::Put { value, .. } if value.len() > MAX_VALUE_BYTES => {
                Err(format!("a value is at most {MAX_VALUE_BYTES} bytes"))
            }
            _ => Ok(()),
        }
    }
}

/// The answer to one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageReply {
    /// `get`: the value, if any.
    Value { value: Option<String> },
    /// `put`, `delete`: done and durable.
    Done,
    /// `list`: the entries, in key order.
    Entries { entries: Vec<(String, String)> },
    /// `increment`: the counter's new value.
    Count { value: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_and_are_checked() {
        let op = StorageOp::Put { key: "seat:o1:r1:ada".into(), value: r#"{"expires_at_ms":5}"#.into() };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<StorageOp>(&json).unwrap(), op);
        assert!(op.validate().is_ok());
        assert!(StorageOp::Get { key: String::new() }.validate().is_err());
        let big = StorageOp::Put { key: "k".into(), value: "x".repeat(MAX_VALUE_BYTES + 1) };
        assert!(big.validate().is_err());
        assert!(serde_json::from_str::<StorageOp>(r#"{"op":"get","key":"k","extra":1}"#).is_err());
        assert!(serde_json::from_str::<StorageOp>(r#"{"op":"drop_all"}"#).is_err());
        let reply = StorageReply::Entries { entries: vec![("a".into(), "1".into())] };
        let json = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<StorageReply>(&json).unwrap(), reply);
    }
}
