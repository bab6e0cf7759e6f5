//! The deployment's variables on Workers: `spin.toml` (compiled in) declares them with their
//! defaults and which component sees which; the values come from the Worker's secrets
//! (`wrangler secret put token_signing_keys`) and vars (`[vars]` in `wrangler.toml`), under
//! the same names.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use origo_functions::coordinator::Settings;
use origo_manifest::{AllowedHosts, Application};
use worker::Env;

/// The manifest every host routes by.
const MANIFEST: &str = include_str!("../../../spin.toml");

/// The parsed manifest (it is part of the build; `cargo test -p origo-manifest` checks it).
pub fn application() -> &'static Application {
    static APP: OnceLock<Application> = OnceLock::new();
    APP.get_or_init(|| Application::parse(MANIFEST).expect("spin.toml is checked by the manifest's tests"))
}

/// A value the deployment set: a secret, else a var.
pub fn provided(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

/// Component `id`'s variables, or why the deployment is incomplete (a required variable
/// unset: every one is named).
pub fn component_variables(env: &Env, id: &str) -> Result<BTreeMap<String, String>, String> {
    application().component_variables(id, |name| provided(env, name)).map_err(|e| e.to_string())
}

/// The var that adds entries to component `id`'s `allowed_outbound_hosts` (the manifest is
/// compiled in, so a deployment that must reach more — a test's receivers on this machine —
/// names them here, comma-separated: `allowed_outbound_hosts_notify = "http://127.0.0.1:*"`).
pub fn extra_hosts_var(id: &str) -> String {
    format!("allowed_outbound_hosts_{id}")
}

/// Component `id`'s outbound hosts: the manifest's, and the deployment's additions. Additions
/// that do not parse are left out (and logged).
pub fn allowed_hosts(env: &Env, id: &str) -> AllowedHosts {
    let base = application().allowed_hosts(id).cloned().unwrap_or_default();
    let Some(extra) = provided(env, &extra_hosts_var(id)) else { return base };
    let entries: Vec<String> = extra.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
    match AllowedHosts::parse(&entries) {
        Ok(more) => base.with(more),
        Err(e) => {
            worker::console_error!("{} is not a list of outbound hosts: {e}", extra_hosts_var(id));
            base
        }
    }
}

/// The room coordinators' timing (`room_grace_ms`, `room_sweep_ms`, `room_stale_ms` vars,
/// as `origo edge --room-*-ms`).
pub fn room_settings(env: &Env) -> Settings {
    let ms = |name: &str| provided(env, name).and_then(|v| v.trim().parse::<u64>().ok());
    let defaults = Settings::default();
    Settings {
        disconnect_grace_ms: ms("room_grace_ms").unwrap_or(defaults.disconnect_grace_ms).max(100),
        sweep_ms: ms("room_sweep_ms").unwrap_or(defaults.sweep_ms).max(100),
        stale_after_ms: ms("room_stale_ms").unwrap_or(defaults.stale_after_ms).max(1000),
        ..defaults
    }
}
