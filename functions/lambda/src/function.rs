//! The five functions a route can name, each served by its `origo-functions` handler.

use origo_functions::{Platform, Request, Response, auth, billing, chat, notify, room};

/// One of the manifest's components, by the handler that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Auth,
    Room,
    Chat,
    Notify,
    Billing,
}

impl Function {
    /// The function a manifest component id names.
    pub fn from_id(id: &str) -> Option<Self> {
        Some(match id {
            "auth" => Function::Auth,
            "room" => Function::Room,
            "chat" => Function::Chat,
            "notify" => Function::Notify,
            "billing" => Function::Billing,
            _ => return None,
        })
    }

    /// Runs the function's handler.
    pub async fn handle(self, req: Request, p: &impl Platform) -> Response {
        match self {
            Function::Auth => auth::handle(req, p).await,
            Function::Room => room::handle(req, p).await,
            Function::Chat => chat::handle(req, p).await,
            Function::Notify => notify::handle(req, p).await,
            Function::Billing => billing::handle(req, p).await,
        }
    }
}
