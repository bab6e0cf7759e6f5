//! What a Lambda deployment runs with, read once at start-up: the embedded manifest, each
//! component's variables (`ORIGO_VAR_<NAME>` over the manifest's defaults), the Redis URL and
//! the coordinators' endpoints. Reading is pure over an environment lookup, so a bad
//! configuration is found — and named — before the function serves anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use origo_manifest::{AllowedHosts, Application, ManifestError};
use origo_shared::outbound_destination::{TRUSTED_HOSTS_VARIABLE, TrustedHosts};

use crate::coordinator_endpoint::CoordinatorEndpoint;
use crate::function::Function;

/// The project's manifest, compiled in.
pub const MANIFEST: &str = include_str!("../../../spin.toml");

/// What went wrong reading the deployment's configuration.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("the embedded spin.toml: {0}")]
    Manifest(ManifestError),
    #[error("required variables are unset: {}", .0.iter().map(|n| format!("{} ({n})", env_name(n))).collect::<Vec<_>>().join(", "))]
    MissingVariables(Vec<String>),
    #[error("spin.toml routes to component {0}, which this host does not serve")]
    UnknownComponent(String),
    #[error("ORIGO_REDIS_URL is unset: the functions keep their data in Redis (redis://host:port/db)")]
    NoRedis,
    #[error(
        "{0} is unset: Lambda runs no room coordinators; name the `origo` coordinators (see functions/lambda/README.md)"
    )]
    NoCoordinator(&'static str),
    #[error("{0}")]
    Coordinator(String),
    /// `ORIGO_VAR_OUTBOUND_TRUSTED_HOSTS` does not parse.
    #[error("{0}")]
    TrustedHosts(String),
}

/// The environment variable that sets application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("ORIGO_VAR_{}", name.to_ascii_uppercase())
}

/// One component as its requests see it.
#[derive(Debug)]
pub struct ComponentConfig {
    pub id: String,
    pub function: Function,
    /// Its variables, templates expanded.
    pub variables: BTreeMap<String, String>,
    pub allowed_hosts: AllowedHosts,
}

/// The deployment's configuration.
#[derive(Debug)]
pub struct Deployment {
    pub app: Application,
    components: BTreeMap<String, Arc<ComponentConfig>>,
    pub redis_url: String,
    /// `ORIGO_REDIS_CA_FILE`: a PEM file of the CA a `rediss://` Redis's certificate is checked
    /// against, instead of the public roots.
    pub redis_ca_file: Option<std::path::PathBuf>,
    pub coordinator: CoordinatorEndpoint,
    /// `outbound_trusted_hosts`: hosts the functions may reach over plain `http` and at any
    /// address.
    pub trusted_hosts: TrustedHosts,
}

impl Deployment {
    /// Reads the configuration from `env` (the process environment in `main`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, DeploymentError> {
        Self::new(MANIFEST, env)
    }

    /// Reads the configuration of `manifest` from `env`.
    pub fn new(manifest: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, DeploymentError> {
        let app = Application::parse(manifest).map_err(DeploymentError::Manifest)?;
        let provided = |name: &str| env(&env_name(name));
        let values = app.manifest().resolve_variables_with(provided).map_err(|e| match e {
            ManifestError::MissingVariables(names) => DeploymentError::MissingVariables(names),
            other => DeploymentError::Manifest(other),
        })?;
        let mut components = BTreeMap::new();
        for c in &app.manifest().components {
            let function = Function::from_id(&c.id).ok_or_else(|| DeploymentError::UnknownComponent(c.id.clone()))?;
            let variables = app.component_variables(&c.id, provided).map_err(DeploymentError::Manifest)?;
            let config = ComponentConfig {
                id: c.id.clone(),
                function,
                variables,
                allowed_hosts: c.allowed_outbound_hosts.clone(),
            };
            components.insert(c.id.clone(), Arc::new(config));
        }
        let redis_url = env("ORIGO_REDIS_URL").filter(|u| !u.trim().is_empty()).ok_or(DeploymentError::NoRedis)?;
        let redis_ca_file = env("ORIGO_REDIS_CA_FILE").filter(|f| !f.trim().is_empty()).map(|f| f.trim().into());
        if values.get("coordinator_url").is_none_or(|u| u.trim().is_empty()) {
            return Err(DeploymentError::NoCoordinator("ORIGO_VAR_COORDINATOR_URL (coordinator_url)"));
        }
        let internal = env("ORIGO_VAR_COORDINATOR_INTERNAL_URL")
            .filter(|u| !u.trim().is_empty())
            .ok_or(DeploymentError::NoCoordinator("ORIGO_VAR_COORDINATOR_INTERNAL_URL"))?;
        let node_secret = values.get("node_secret").map(String::as_str).unwrap_or_default();
        let coordinator = CoordinatorEndpoint::new(&internal, node_secret).map_err(DeploymentError::Coordinator)?;
        let trusted_hosts =
            TrustedHosts::parse(values.get(TRUSTED_HOSTS_VARIABLE).map(String::as_str).unwrap_or_default())
                .map_err(DeploymentError::TrustedHosts)?;
        Ok(Deployment {
            app,
            components,
            redis_url: redis_url.trim().to_owned(),
            redis_ca_file,
            coordinator,
            trusted_hosts,
        })
    }

    /// The component serving `path`, if a route matches.
    pub fn component_for_path(&self, path: &str) -> Option<&Arc<ComponentConfig>> {
        self.app.component_for_path(path).and_then(|id| self.components.get(id))
    }

    pub fn component(&self, id: &str) -> Option<&Arc<ComponentConfig>> {
        self.components.get(id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    const COMPLETE: &[(&str, &str)] = &[
        ("ORIGO_VAR_TOKEN_SIGNING_KEYS", "k1:0707070707070707070707070707070707070707070707070707070707070707"),
        ("ORIGO_VAR_TURN_SECRET", "t"),
        ("ORIGO_VAR_NODE_SECRET", "n"),
        ("ORIGO_VAR_COORDINATOR_URL", "wss://rooms.example.com"),
        ("ORIGO_VAR_COORDINATOR_INTERNAL_URL", "http://10.0.0.5:8080"),
        ("ORIGO_VAR_KICK_BAN_MINUTES", "15"),
        ("ORIGO_REDIS_URL", "redis://127.0.0.1:6379/0"),
    ];

    #[test]
    fn reads_the_environment_over_the_defaults() {
        let d = Deployment::from_env(env(COMPLETE)).unwrap();
        let room = d.component_for_path("/v1/rooms/standup/join").unwrap();
        assert_eq!(room.function, Function::Room);
        assert_eq!(room.variables["kick_ban_minutes"], "15");
        assert_eq!(room.variables["guest_org"], "public");
        assert_eq!(room.variables["coordinator_url"], "wss://rooms.example.com");
        assert_eq!(d.component_for_path("/v1/rooms/a/messages").unwrap().function, Function::Chat);
        assert_eq!(
            d.component_for_path("/v1/rooms/a/messages/0000000000000001-0000000001/reactions/x").unwrap().function,
            Function::Chat
        );
        assert_eq!(d.component_for_path("/v1/operator/plans").unwrap().function, Function::Billing);
        assert!(d.component_for_path("/nope").is_none());
        assert_eq!(d.coordinator.base(), "http://10.0.0.5:8080");
        assert_eq!(d.redis_ca_file, None);
        let mut with_ca: Vec<(&str, &str)> = COMPLETE.to_vec();
        with_ca.push(("ORIGO_REDIS_CA_FILE", "/opt/redis-ca.pem"));
        let d = Deployment::from_env(env(&with_ca)).unwrap();
        assert_eq!(d.redis_ca_file.as_deref(), Some(std::path::Path::new("/opt/redis-ca.pem")));
    }

    #[test]
    fn refuses_to_start_naming_what_is_missing() {
        let err = Deployment::from_env(env(&[])).unwrap_err().to_string();
        for name in ["ORIGO_VAR_TOKEN_SIGNING_KEYS", "ORIGO_VAR_TURN_SECRET", "ORIGO_VAR_NODE_SECRET"] {
            assert!(err.contains(name), "{err}");
        }
        let without = |skip: &str| {
            let pairs: Vec<(&str, &str)> = COMPLETE.iter().copied().filter(|(k, _)| *k != skip).collect();
            Deployment::from_env(env(&pairs)).unwrap_err().to_string()
        };
        assert!(without("ORIGO_REDIS_URL").contains("ORIGO_REDIS_URL"));
        assert!(without("ORIGO_VAR_COORDINATOR_URL").contains("ORIGO_VAR_COORDINATOR_URL"));
        assert!(without("ORIGO_VAR_COORDINATOR_INTERNAL_URL").contains("ORIGO_VAR_COORDINATOR_INTERNAL_URL"));
        let mut bad: Vec<(&str, &str)> = COMPLETE.to_vec();
        bad.push(("ORIGO_VAR_COORDINATOR_INTERNAL_URL", "gopher://x"));
        let bad = Deployment::from_env(env(&bad)).unwrap_err().to_string();
        assert!(bad.contains("http"), "{bad}");
        assert!(!bad.contains("k1:07"), "no secret in the message");
    }

    #[test]
    fn refuses_components_it_cannot_serve() {
        let manifest = MANIFEST.replace(
            "route = \"/v1/billing/...\"\ncomponent = \"billing\"",
            "route = \"/v1/billing/...\"\ncomponent = \"ledger\"",
        ) + "\n[component.ledger]\nsource = \"x.wasm\"\n";
        let err = Deployment::new(&manifest, env(COMPLETE)).unwrap_err();
        assert!(matches!(err, DeploymentError::UnknownComponent(ref id) if id == "ledger"), "{err}");
    }
}
