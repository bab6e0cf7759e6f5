//! Reads `spin.toml` (manifest version 2): the components, their routes, key-value stores,
//! variables and allowed outbound hosts. The same file Spin runs is what `origo` serves, so the
//! two cannot drift.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::allowed_hosts::AllowedHosts;
use crate::route_pattern::RoutePattern;
use crate::template::{template_references, valid_variable_name};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid manifest: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("required variables have no value: {}", .0.join(", "))]
    MissingVariables(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    application: Option<toml::Value>,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
struct RawHttpTrigger {
    route: String,
    component: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Debug, Deserialize)]
struct RawComponent {
    source: String,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<RawBuild>,
}

#[derive(Debug, Deserialize)]
struct RawBuild {
    command: String,
    #[serde(default)]
    watch: Vec<String>,
}

/// An application variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// One component of the application.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    pub key_value_stores: Vec<String>,
    pub allowed_outbound_hosts: AllowedHosts,
    /// Component variable name → template over application variables (`"{{ token_secret }}"`).
    pub variables: BTreeMap<String, String>,
    /// The build command from the manifest (run from the manifest's directory).
    pub build_command: Option<String>,
    pub watch: Vec<String>,
}

/// A parsed and checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    /// The directory paths in the manifest are relative to.
    pub root: PathBuf,
    pub variables: BTreeMap<String, Variable>,
    pub components: Vec<Component>,
    pub routes: Vec<(RoutePattern, String)>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let root = abs.parent().map(Path::to_owned).unwrap_or_default();
        Self::parse(&text, abs, root)
    }

    pub fn parse(text: &str, path: PathBuf, root: PathBuf) -> Result<Self, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::Parse { path: path.clone(), message: e.to_string() })?;
        if raw.spin_manifest_version != 2 {
            return Err(ManifestError::Invalid(format!(
                "spin_manifest_version {} is not supported (expected 2)",
                raw.spin_manifest_version
            )));
        }
        let _ = raw.application;
        let variables: BTreeMap<String, Variable> = raw
            .variables
            .into_iter()
            .map(|(name, v)| {
                if v.required && v.default.is_some() {
                    return Err(ManifestError::Invalid(format!(
                        "variable {name} cannot be both required and defaulted"
                    )));
                }
                if !valid_variable_name(&name) {
                    return Err(ManifestError::Invalid(format!("variable name {name:?} must match [a-z][a-z0-9_]*")));
                }
                Ok((name, Variable { default: v.default, required: v.required, secret: v.secret }))
            })
            .collect::<Result<_, _>>()?;

        let mut components = Vec::new();
        for (id, c) in raw.component {
            for template in c.variables.values() {
                for used in template_references(template).map_err(ManifestError::Invalid)? {
                    if !variables.contains_key(used) {
                        return Err(ManifestError::Invalid(format!(
                            "component {id} uses variable {used}, which [variables] does not declare"
                        )));
                    }
                }
            }
            let allowed = AllowedHosts::parse(&c.allowed_outbound_hosts)
                .map_err(|e| ManifestError::Invalid(format!("component {id}: {e}")))?;
            let source = root.join(&c.source);
            components.push(Component {
                id,
                source,
                key_value_stores: c.key_value_stores,
                allowed_outbound_hosts: allowed,
                variables: c.variables,
                build_command: c.build.as_ref().map(|b| b.command.clone()),
                watch: c.build.map(|b| b.watch).unwrap_or_default(),
            });
        }

        let mut routes = Vec::new();
        for t in raw.trigger.http {
            if !components.iter().any(|c| c.id == t.component) {
                return Err(ManifestError::Invalid(format!(
                    "route {} names unknown component {}",
                    t.route, t.component
                )));
            }
            let pattern = RoutePattern::parse(&t.route).map_err(ManifestError::Invalid)?;
            if routes.iter().any(|(p, _): &(RoutePattern, String)| p.as_str() == pattern.as_str()) {
                return Err(ManifestError::Invalid(format!("route {} appears twice", t.route)));
            }
            routes.push((pattern, t.component));
        }
        Ok(Manifest { path, root, variables, components, routes })
    }

    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Resolves every application variable from `provided` (CLI, environment, dev secrets) and
    /// the defaults; a required variable without a value is an error.
    pub fn resolve_variables(
        &self,
        provided: &HashMap<String, String>,
    ) -> Result<HashMap<String, String>, ManifestError> {
        self.resolve_variables_with(|name| provided.get(name).cloned()).map_err(|e| match e {
            ManifestError::MissingVariables(names) => {
                let name = names.first().map(String::as_str).unwrap_or_default();
                ManifestError::Invalid(format!(
                    "variable {name} is required: pass --var {name}=VALUE or set ORIGO_VAR_{}",
                    name.to_ascii_uppercase()
                ))
            }
            other => other,
        })
    }

    /// Resolves every application variable from `provided` (the deployment's values), falling
    /// back to the defaults. Every required variable left without a value is named in the
    /// error.
    pub fn resolve_variables_with(
        &self,
        provided: impl Fn(&str) -> Option<String>,
    ) -> Result<HashMap<String, String>, ManifestError> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for (name, v) in &self.variables {
            match provided(name).or_else(|| v.default.clone()) {
                Some(value) => {
                    out.insert(name.clone(), value);
                }
                None if v.required => missing.push(name.clone()),
                None => {}
            }
        }
        if missing.is_empty() { Ok(out) } else { Err(ManifestError::MissingVariables(missing)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::expand_template;

    const SAMPLE: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
secret = { required = true, secret = true }
greeting = { default = "hi" }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["https://*.example.com", "http://127.0.0.1:*"]
[component.a.variables]
msg = "{{ greeting }}, {{secret}}!"
"#;

    #[test]
    fn parses_components_routes_and_variables() {
        let m = Manifest::parse(SAMPLE, "/app/spin.toml".into(), "/app".into()).unwrap();
        let a = m.component("a").unwrap();
        assert_eq!(a.source, PathBuf::from("/app/a.wasm"));
        assert_eq!(a.key_value_stores, ["default"]);
        assert_eq!(m.routes.len(), 1);
        let mut provided = HashMap::new();
        assert!(m.resolve_variables(&provided).is_err(), "secret is required");
        provided.insert("secret".to_owned(), "s3".to_owned());
        let vars = m.resolve_variables(&provided).unwrap();
        assert_eq!(expand_template(&a.variables["msg"], &vars).unwrap(), "hi, s3!");
    }

    #[test]
    fn refuses_bad_manifests() {
        let cases = [
            SAMPLE.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
            SAMPLE.replace("component = \"a\"", "component = \"b\""),
            SAMPLE.replace("{{ greeting }}", "{{ nope }}"),
            SAMPLE.replace("{{ greeting }}", "{{ greeting "),
            SAMPLE.replace("\"https://*.example.com\"", "\"gopher://x\""),
            SAMPLE.replace("route = \"/a/...\"", "route = \"a\""),
            SAMPLE.replace("greeting = { default = \"hi\" }", "greeting = { default = \"hi\", required = true }"),
            "not toml = = =".to_owned(),
        ];
        for text in cases {
            assert!(Manifest::parse(&text, "/m".into(), "/".into()).is_err(), "{text}");
        }
    }

    #[test]
    fn the_project_manifest_is_valid() {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../spin.toml");
        let m = Manifest::load(&path).unwrap();
        for id in ["auth", "room", "chat", "notify", "billing"] {
            assert!(m.component(id).is_some(), "{id}");
        }
        let mut provided = HashMap::new();
        for name in ["token_signing_keys", "turn_secret", "node_secret"] {
            provided.insert(name.to_owned(), "x".repeat(64));
        }
        let vars = m.resolve_variables(&provided).unwrap();
        for c in &m.components {
            for t in c.variables.values() {
                expand_template(t, &vars).unwrap();
            }
        }
    }
}
