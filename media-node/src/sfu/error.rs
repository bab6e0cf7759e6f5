//! What may go wrong with a control command (the control API maps each to an HTTP status).

/// What may go wrong with a session request.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("the SDP was refused: {0}")]
    BadSdp(String),
    #[error("no such session")]
    NoSession,
    #[error("no such track")]
    NoTrack,
    #[error("this session may not {0}")]
    NotAllowed(&'static str),
    #[error("an offer is already waiting for its answer")]
    OfferPending,
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    #[error("this participant was removed from the room")]
    Banned,
    #[error("the room is full: it may hold {0} sessions on this node")]
    RoomFull(u32),
    #[error("{0}")]
    TooManyTracks(String),
    #[error("too many participants are muted on this node")]
    ModerationFull,
    #[error("a standby session carries nothing until it takes over (PATCH with \"take_over\": true)")]
    Standby,
    #[error("no socket for a link: {0}")]
    LinkSocket(String),
}
