//! The chat message record (`chat:{org}:{room}:{id}`), written by the room coordinators for
//! every message sent in a room — and again for every change to it — and read by the chat
//! function's history. An id starts with the send time in milliseconds, zero-padded to 16
//! digits, so ids — and keys — sort by time; the id is also the paging cursor. The record is
//! the message as the room delivers it ([`ChatMessage`]). Plain data: coordinator hosts use
//! it without a [`Platform`](crate::Platform).

pub use origo_shared::chat::message_id;
use origo_shared::signal::ChatMessage;

/// A message of the history, as stored.
pub type StoredMessage = ChatMessage;
