//! A room's chat message and the changes it can go through after it was sent — an edit, a
//! deletion that leaves a tombstone, a reaction added or taken back — with the rules every
//! part applies to them: the coordinator to the messages it keeps, the history's records when
//! a change reaches them, the web client to what it shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;
/// Most people one message can mention.
pub const MAX_MENTIONS: usize = 20;
/// Most different reactions on one message.
pub const MAX_REACTIONS: usize = 20;
/// Most people behind one reaction of one message.
pub const MAX_REACTORS: usize = 500;
/// Longest reaction, in bytes (an emoji, a short sequence of them, or a `:shortcode:`).
pub const MAX_REACTION_BYTES: usize = 32;
/// Longest message id, in bytes (16 digits, a dash, 10 digits).
pub const MESSAGE_ID_BYTES: usize = 27;

/// A chat message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    /// The message's id in the room's history: the send time in milliseconds (16 digits),
    /// then its `seq` (10 digits). Ids sort by time; an id is also the history's cursor.
    #[serde(default)]
    pub id: String,
    /// Room-wide sequence number (ascending, gap-free per room).
    #[serde(default)]
    pub seq: u64,
    /// Sender identity.
    pub from: String,
    /// The sender's display name when the message was sent (it does not change afterwards).
    pub from_name: String,
    /// The message text: 1 to [`MAX_CHAT_CHARS`] characters, not only whitespace; empty once
    /// the message is deleted.
    pub text: String,
    /// Unix milliseconds when the coordinator accepted it.
    pub sent_at_ms: u64,
    /// The id of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The identities the text mentions (`@identity`), in the order they first appear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// When the text was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at_ms: Option<u64>,
    /// Who changed it last (the sender, or a room admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_by: Option<String>,
    /// When the message was deleted: its text, mentions and reactions are gone, the record
    /// stays as a tombstone so replies and the history keep their place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<u64>,
    /// Who deleted it (the sender, or a room admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    /// Reactions: each reaction and the identities who gave it, in the order they did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, Vec<String>>,
    /// The room sequence number of the message's last change (absent: never changed). A
    /// client that reconnects gets again the messages changed after the last `seq` it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_seq: Option<u64>,
}

/// A change to a message that was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatChange {
    /// New text (its mentions are read again).
    Edited {
        /// The new text.
        text: String,
        /// When it was changed (Unix milliseconds).
        at_ms: u64,
    },
    /// Deleted: a tombstone from now on.
    Deleted {
        /// When it was deleted (Unix milliseconds).
        at_ms: u64,
    },
    /// A reaction added or taken back by the identity making the change.
    Reaction {
        /// The reaction (an emoji or a short code).
        reaction: String,
        /// True when added, false when taken back.
        added: bool,
    },
}

/// Why a change was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChatRefusal {
    /// Only the sender and room admins change a message (`forbidden`).
    #[error("only the sender or a room admin may change this message")]
    NotYours,
    /// The message is deleted (`message_deleted`).
    #[error("this message was deleted")]
    Deleted,
    /// Text outside the limits (`bad_chat_text`).
    #[error("chat text must be 1..={MAX_CHAT_CHARS} characters")]
    BadText,
    /// A reaction that is not 1 to [`MAX_REACTION_BYTES`] bytes without spaces (`bad_reaction`).
    #[error("a reaction is 1-32 bytes without spaces or control characters")]
    BadReaction,
    /// The message has [`MAX_REACTIONS`] reactions, or the reaction [`MAX_REACTORS`] people
    /// (`too_many_reactions`).
    #[error("this message has as many reactions as it may")]
    TooManyReactions,
}

impl ChatRefusal {
    /// The machine-readable code of the refusal.
    pub fn code(self) -> &'static str {
        match self {
            ChatRefusal::NotYours => "forbidden",
            ChatRefusal::Deleted => "message_deleted",
            ChatRefusal::BadText => "bad_chat_text",
            ChatRefusal::BadReaction => "bad_reaction",
            ChatRefusal::TooManyReactions => "too_many_reactions",
        }
    }
}

/// The id of a message: the time, then the room's sequence number (unique per room).
pub fn message_id(sent_at_ms: u64, seq: u64) -> String {
    format!("{sent_at_ms:016}-{seq:010}")
}

/// The room sequence number inside a message id; `None` for a string that is not one.
pub fn seq_of_id(id: &str) -> Option<u64> {
    let (time, seq) = id.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(time, 16) && digits(seq, 10)).then(|| seq.parse().ok()).flatten()
}

/// True for chat text within the limits: 1 to [`MAX_CHAT_CHARS`] characters, not only whitespace.
pub fn text_fits(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= MAX_CHAT_CHARS
}

/// True for a reaction within the limits.
pub fn reaction_fits(reaction: &str) -> bool {
    !reaction.is_empty()
        && reaction.len() <= MAX_REACTION_BYTES
        && !reaction.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The identities `text` mentions: each `@` at the start or after whitespace, followed by the
/// identity up to the next whitespace (trailing `.,;:!?)` are punctuation, not identity), at
/// most [`MAX_MENTIONS`], each once.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let Some(rest) = word.strip_prefix('@') else { continue };
        let identity = rest.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        if crate::identity::fits(identity) && !found.iter().any(|f| f == identity) {
            found.push(identity.to_owned());
            if found.len() == MAX_MENTIONS {
                break;
            }
        }
    }
    found
}

impl ChatMessage {
    /// A new message, its id and mentions derived.
    pub fn new(seq: u64, from: String, from_name: String, text: String, sent_at_ms: u64) -> Self {
        ChatMessage {
            id: message_id(sent_at_ms, seq),
            seq,
            mentions: mentions(&text),
            from,
            from_name,
            text,
            sent_at_ms,
            reply_to: None,
            edited_at_ms: None,
            edited_by: None,
            deleted_at_ms: None,
            deleted_by: None,
            reactions: BTreeMap::new(),
            changed_seq: None,
        }
    }

    /// Fills what records written before these fields existed lack: the id from the time and
    /// `seq`, or `seq` from the id.
    pub fn normalized(mut self) -> Self {
        if self.id.is_empty() {
            self.id = message_id(self.sent_at_ms, self.seq);
        } else if self.seq == 0 {
            self.seq = seq_of_id(&self.id).unwrap_or(0);
        }
        self
    }

    /// True once deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at_ms.is_some()
    }

    /// Checks that `by` (a room admin when `admin`) may make `change`, without making it.
    pub fn check(&self, change: &ChatChange, by: &str, admin: bool) -> Result<(), ChatRefusal> {
        if self.is_deleted() {
            return Err(ChatRefusal::Deleted);
        }
        match change {
            ChatChange::Edited { text, .. } => {
                if self.from != by && !admin {
                    return Err(ChatRefusal::NotYours);
                }
                if !text_fits(text) {
                    return Err(ChatRefusal::BadText);
                }
            }
            ChatChange::Deleted { .. } => {
                if self.from != by && !admin {
                    return Err(ChatRefusal::NotYours);
                }
            }
            ChatChange::Reaction { reaction, added } => {
                if !reaction_fits(reaction) {
                    return Err(ChatRefusal::BadReaction);
                }
                if *added {
                    let people = self.reactions.get(reaction.as_str());
                    let full = match people {
                        Some(p) => p.len() >= MAX_REACTORS && !p.iter().any(|i| i == by),
                        None => self.reactions.len() >= MAX_REACTIONS,
                    };
                    if full {
                        return Err(ChatRefusal::TooManyReactions);
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes `change` by `by`, as the room's change number `seq`; false when it changed
    /// nothing (a reaction already there, or one taken back that was not).
    pub fn apply(&mut self, change: &ChatChange, by: &str, admin: bool, seq: u64) -> Result<bool, ChatRefusal> {
        self.check(change, by, admin)?;
        match change {
            ChatChange::Edited { text, at_ms } => {
                self.text = text.clone();
                self.mentions = mentions(text);
                self.edited_at_ms = Some(*at_ms);
                self.edited_by = Some(by.to_owned());
            }
            ChatChange::Deleted { at_ms } => {
                self.text.clear();
                self.mentions.clear();
                self.reactions.clear();
                self.deleted_at_ms = Some(*at_ms);
                self.deleted_by = Some(by.to_owned());
            }
            ChatChange::Reaction { reaction, added: true } => {
                let people = self.reactions.entry(reaction.clone()).or_default();
                if people.iter().any(|i| i == by) {
                    return Ok(false);
                }
                people.push(by.to_owned());
            }
            ChatChange::Reaction { reaction, added: false } => {
                let Some(people) = self.reactions.get_mut(reaction.as_str()) else { return Ok(false) };
                let before = people.len();
                people.retain(|i| i != by);
                if people.len() == before {
                    return Ok(false);
                }
                if people.is_empty() {
                    self.reactions.remove(reaction.as_str());
                }
            }
        }
        self.changed_seq = Some(seq);
        Ok(true)
    }

    /// The sequence number of the message's latest state (its send, or its last change).
    pub fn last_seq(&self) -> u64 {
        self.changed_seq.unwrap_or(self.seq).max(self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> ChatMessage {
        ChatMessage::new(7, "ann".into(), "Ann".into(), "hi @bob and @cy, @bob!".into(), 1_000)
    }

    #[test]
    fn ids_sort_by_time_and_give_back_their_seq() {
        assert_eq!(message_id(1_800_000_000_000, 7), "0001800000000000-0000000007");
        assert!(message_id(999, 9_999_999_999) < message_id(1000, 0));
        assert_eq!(seq_of_id(&message_id(5, 42)), Some(42));
        assert_eq!(message_id(5, 42).len(), MESSAGE_ID_BYTES);
        for bad in ["", "1-2", "000000000000000a-0000000001", "0000000000000005-00000000042"] {
            assert_eq!(seq_of_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn mentions_are_read_from_the_text_once_each() {
        assert_eq!(msg().mentions, ["bob", "cy"]);
        assert!(mentions("mail me at ann@example.com").is_empty(), "an @ inside a word is no mention");
        assert!(mentions("@ alone").is_empty());
        let many: String = (0..30).map(|i| format!("@p{i} ")).collect();
        assert_eq!(mentions(&many).len(), MAX_MENTIONS);
    }

    #[test]
    fn only_the_sender_or_an_admin_edits_and_deletes() {
        let mut m = msg();
        let edit = ChatChange::Edited { text: "hello".into(), at_ms: 2_000 };
        assert_eq!(m.apply(&edit, "bob", false, 8), Err(ChatRefusal::NotYours));
        assert_eq!(m.apply(&edit, "ann", false, 8), Ok(true));
        assert_eq!((m.text.as_str(), m.edited_at_ms, m.mentions.len()), ("hello", Some(2_000), 0));
        assert_eq!(
            m.apply(&ChatChange::Edited { text: " ".into(), at_ms: 0 }, "ann", false, 9),
            Err(ChatRefusal::BadText)
        );
        assert_eq!(m.apply(&ChatChange::Deleted { at_ms: 3_000 }, "mod", true, 9), Ok(true));
        assert!(m.is_deleted() && m.text.is_empty());
        assert_eq!((m.deleted_by.as_deref(), m.changed_seq, m.last_seq()), (Some("mod"), Some(9), 9));
        assert_eq!(m.apply(&edit, "ann", false, 10), Err(ChatRefusal::Deleted), "a tombstone stays one");
    }

    #[test]
    fn reactions_count_each_person_once_within_limits() {
        let mut m = msg();
        let thumbs = |added| ChatChange::Reaction { reaction: "👍".into(), added };
        assert_eq!(m.apply(&thumbs(true), "bob", false, 8), Ok(true));
        assert_eq!(m.apply(&thumbs(true), "bob", false, 9), Ok(false));
        assert_eq!(m.apply(&thumbs(true), "cy", false, 9), Ok(true));
        assert_eq!(m.reactions["👍"], ["bob", "cy"]);
        assert_eq!(m.apply(&thumbs(false), "bob", false, 10), Ok(true));
        assert_eq!(m.apply(&thumbs(false), "cy", false, 11), Ok(true));
        assert!(m.reactions.is_empty(), "a reaction nobody gives is gone");
        let bad = ChatChange::Reaction { reaction: "a b".into(), added: true };
        assert_eq!(m.apply(&bad, "bob", false, 12), Err(ChatRefusal::BadReaction));
        for i in 0..MAX_REACTIONS {
            let r = ChatChange::Reaction { reaction: format!(":r{i}:"), added: true };
            assert_eq!(m.apply(&r, "bob", false, 13), Ok(true));
        }
        assert_eq!(m.apply(&thumbs(true), "bob", false, 14), Err(ChatRefusal::TooManyReactions));
    }

    #[test]
    fn old_records_get_their_id_and_seq() {
        let m: ChatMessage =
            serde_json::from_str(r#"{"seq":3,"from":"a","from_name":"A","text":"x","sent_at_ms":9}"#).unwrap();
        assert_eq!(m.normalized().id, message_id(9, 3));
        let m: ChatMessage = serde_json::from_str(&format!(
            r#"{{"id":"{}","from":"a","from_name":"A","text":"x","sent_at_ms":9}}"#,
            message_id(9, 3)
        ))
        .unwrap();
        assert_eq!(m.normalized().seq, 3);
    }
}
