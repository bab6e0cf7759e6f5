//! An application as a host that embeds its manifest sees it: the manifest parsed from text
//! (`include_str!("../../../spin.toml")`), the component each request path goes to, each
//! component's variables with the deployment's values and the manifest's defaults, and the
//! hosts each component may call.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::allowed_hosts::AllowedHosts;
use crate::manifest::{Manifest, ManifestError};
use crate::route_table::RouteTable;
use crate::template::expand_template;

/// A parsed manifest with its route table.
#[derive(Debug, Clone)]
pub struct Application {
    manifest: Manifest,
    routes: RouteTable,
}

impl Application {
    /// Parses an embedded manifest. Component sources stay relative to the manifest: an
    /// embedded host serves the components compiled into it, not `.wasm` files.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest = Manifest::parse(text, PathBuf::from("spin.toml"), PathBuf::new())?;
        Ok(Self::from_manifest(manifest))
    }

    pub fn from_manifest(manifest: Manifest) -> Self {
        let routes = RouteTable::new(manifest.routes.clone());
        Application { manifest, routes }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The id of the component serving `path` (no query string), if any route matches.
    pub fn component_for_path(&self, path: &str) -> Option<&str> {
        self.routes.lookup(path)
    }

    /// The hosts component `id` may call; `None` for an unknown component.
    pub fn allowed_hosts(&self, id: &str) -> Option<&AllowedHosts> {
        self.manifest.component(id).map(|c| &c.allowed_outbound_hosts)
    }

    /// Component `id`'s variables: its templates expanded over the application variables,
    /// each taken from `provided` (the deployment's values) or else its default. Fails when a
    /// required application variable has no value (all of them are named) or `id` is unknown.
    pub fn component_variables(
        &self,
        id: &str,
        provided: impl Fn(&str) -> Option<String>,
    ) -> Result<BTreeMap<String, String>, ManifestError> {
        let component =
            self.manifest.component(id).ok_or_else(|| ManifestError::Invalid(format!("no component {id}")))?;
        let values = self.manifest.resolve_variables_with(provided)?;
        component
            .variables
            .iter()
            .map(|(name, template)| {
                expand_template(template, &values)
                    .map(|value| (name.clone(), value))
                    .map_err(|e| ManifestError::Invalid(format!("component {id}, variable {name}: {e}")))
            })
            .collect()
    }

    /// Every component's variables (see [`Application::component_variables`]), by component id.
    pub fn all_component_variables(
        &self,
        provided: impl Fn(&str) -> Option<String>,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, ManifestError> {
        self.manifest
            .components
            .iter()
            .map(|c| Ok((c.id.clone(), self.component_variables(&c.id, &provided)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = include_str!("../../../spin.toml");

    fn secrets(name: &str) -> Option<String> {
        matches!(name, "token_signing_keys" | "turn_secret" | "node_secret").then(|| format!("{name}-value"))
    }

    #[test]
    fn routes_the_project_manifest() {
        let app = Application::parse(PROJECT).unwrap();
        for (path, id) in [
            ("/v1/auth/guest", "auth"),
            ("/.well-known/jwks.json", "auth"),
            ("/v1/orgs/acme/members", "auth"),
            ("/v1/tokens", "auth"),
            ("/v1/invitations/accept", "auth"),
            ("/v1/rooms", "room"),
            ("/v1/rooms/standup", "room"),
            ("/v1/rooms/standup/join", "room"),
            ("/v1/rooms/standup/participants/zoe", "room"),
            ("/v1/nodes/heartbeat", "room"),
            ("/v1/rooms/standup/messages", "chat"),
            ("/v1/webhooks/abc", "notify"),
            ("/v1/billing/usage", "billing"),
        ] {
            assert_eq!(app.component_for_path(path), Some(id), "{path}");
        }
        for path in ["/", "/nope", "/v1/rooms/a/b/c", "/internal/v1/rooms/o/r/commands"] {
            assert_eq!(app.component_for_path(path), None, "{path}");
        }
    }

    #[test]
    fn variables_take_the_deployment_values_then_the_defaults() {
        let app = Application::parse(PROJECT).unwrap();
        let room = app
            .component_variables("room", |name| match name {
                "kick_ban_minutes" => Some("15".to_owned()),
                other => secrets(other),
            })
            .unwrap();
        assert_eq!(room["kick_ban_minutes"], "15");
        assert_eq!(room["node_secret"], "node_secret-value");
        assert_eq!(room["guest_org"], "public", "the default");
        assert!(!room.contains_key("rate_webhook_test_per_minute"), "only the component's own variables");
        let all = app.all_component_variables(secrets).unwrap();
        assert_eq!(all.keys().map(String::as_str).collect::<Vec<_>>(), ["auth", "billing", "chat", "notify", "room"]);
    }

    #[test]
    fn names_every_missing_required_variable() {
        let app = Application::parse(PROJECT).unwrap();
        let err = app.component_variables("chat", |_| None).unwrap_err();
        match err {
            ManifestError::MissingVariables(names) => {
                assert_eq!(names, ["node_secret", "token_signing_keys", "turn_secret"]);
            }
            other => panic!("{other}"),
        }
        assert!(app.component_variables("nope", secrets).is_err());
    }

    #[test]
    fn allowed_hosts_per_component() {
        let app = Application::parse(PROJECT).unwrap();
        assert!(app.allowed_hosts("room").unwrap().allows("http", "origo.internal", None));
        assert!(!app.allowed_hosts("chat").unwrap().allows("https", "example.com", None));
        assert!(app.allowed_hosts("notify").unwrap().allows("https", "hooks.partner.test", Some(8443)));
        assert!(app.allowed_hosts("billing").unwrap().is_empty());
        assert!(app.allowed_hosts("nope").is_none());
    }
}
