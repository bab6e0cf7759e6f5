//! Application variables: from `--var NAME=VALUE`, `ORIGO_VAR_NAME` / `SPIN_VARIABLE_NAME`
//! environment variables, and — in `origo dev` only — secrets generated once and kept in the
//! data directory, so a fresh checkout runs without configuration.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;

use origo_manifest::Manifest;

const DEV_FILE: &str = "dev-variables.json";

/// Parses `NAME=VALUE`.
pub fn parse_assignment(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
    Ok((k.trim().to_ascii_lowercase(), v.to_owned()))
}

/// Values given on the command line and in the environment (command line wins).
pub fn provided(cli: &[(String, String)]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in std::env::vars() {
        let name = k.strip_prefix("SPIN_VARIABLE_").or_else(|| k.strip_prefix("ORIGO_VAR_"));
        if let Some(name) = name {
            out.insert(name.to_ascii_lowercase(), v);
        }
    }
    for (k, v) in cli {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Fills required secret variables nobody provided with random values kept in
/// `data_dir/dev-variables.json` (mode 0600), the same on every `origo dev` start — and the
/// web push key (`vapid_private_key`, a P-256 secret), so push notifications work in
/// development too.
pub fn fill_dev_secrets(
    manifest: &Manifest,
    data_dir: &Path,
    values: &mut HashMap<String, String>,
) -> anyhow::Result<()> {
    let missing: Vec<&String> = manifest
        .variables
        .iter()
        .filter(|(name, v)| {
            let wanted = (v.required && v.secret) || name.as_str() == VAPID_KEY;
            wanted && values.get(*name).is_none_or(|v| v.is_empty())
        })
        .map(|(name, _)| name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let path = data_dir.join(DEV_FILE);
    let mut stored: HashMap<String, String> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut changed = false;
    for name in missing {
        if !stored.contains_key(name) {
            let value = if name == VAPID_KEY { vapid_key()? } else { hex(&random_bytes()?) };
            stored.insert(name.clone(), value);
            changed = true;
        }
        values.insert(name.clone(), stored[name].clone());
        tracing::info!(variable = %name, file = %path.display(), "using a generated development secret");
    }
    if changed {
        write_private(&path, &serde_json::to_vec_pretty(&stored)?)?;
    }
    Ok(())
}

/// The web push key's variable.
const VAPID_KEY: &str = "vapid_private_key";

/// The operator token's file in the data directory (`origo dev`).
pub const OPERATOR_TOKEN_FILE: &str = "operator-token";

/// The operator API for `origo dev`, unless `operator_secret_sha256` was given: a token kept
/// in `data_dir/operator-token` (mode 0600, made on the first start), whose SHA-256 the
/// deployment checks. The log says where the token is, never the token.
pub fn fill_dev_operator(data_dir: &Path, values: &mut HashMap<String, String>) -> anyhow::Result<()> {
    const VARIABLE: &str = "operator_secret_sha256";
    if values.get(VARIABLE).is_some_and(|v| !v.trim().is_empty()) {
        return Ok(());
    }
    let path = data_dir.join(OPERATOR_TOKEN_FILE);
    let token = match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        Ok(_) => anyhow::bail!("{} is empty; remove it to get a new operator token", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = format!("oop_{}", hex(&random_bytes()?));
            write_private(&path, format!("{token}\n").as_bytes())?;
            token
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    values.insert(VARIABLE.into(), origo_functions::secret_digest::secret_digest(&token));
    tracing::info!(file = %path.display(), "development: the operator API's token is in this file");
    Ok(())
}

fn random_bytes() -> anyhow::Result<[u8; 32]> {
    let mut buf = [0u8; 32];
    getrandom03::fill(&mut buf).map_err(|e| anyhow::anyhow!("no OS random source: {e}"))?;
    Ok(buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh VAPID key, as `vapid_private_key` holds it.
fn vapid_key() -> anyhow::Result<String> {
    loop {
        if let Some(key) = origo_functions::web_push::vapid::VapidKey::from_bytes(&random_bytes()?) {
            return Ok(key.encoded_secret());
        }
    }
}

/// The hosts `origo dev` trusts for outbound requests unless `outbound_trusted_hosts` is given:
/// a developer's own receivers on this machine.
pub const DEV_TRUSTED_HOSTS: &str = "127.0.0.1,localhost,[::1]";

/// Development conveniences for variables nobody set: accounts work without an email
/// provider (their emails go to the in-process mailbox, [`crate::dev_mailbox`]), and joins hand
/// out the in-process TURN server, and outbound requests may reach this machine
/// ([`DEV_TRUSTED_HOSTS`]). True when the mailbox is in use.
pub fn dev_defaults(
    manifest: &Manifest,
    provided: &HashMap<String, String>,
    values: &mut HashMap<String, String>,
    turn: Option<&origo_turn::node::Listening>,
) -> bool {
    let declared = |name: &str| manifest.variables.contains_key(name) && !provided.contains_key(name);
    if declared("signup_verification") {
        values.insert("signup_verification".into(), "none".into());
        tracing::info!("development: new accounts are active without email verification");
    }
    let mailbox = declared("email_api_url") && values.get("email_api_url").is_none_or(|v| v.is_empty());
    if mailbox {
        values.insert("email_api_url".into(), crate::dev_mailbox::EMAIL_API_URL.into());
        tracing::info!(
            "development: emails (password resets, invitations) are kept in memory: GET {} from this machine",
            crate::dev_mailbox::LIST_PATH
        );
    }
    let trusted = origo_shared::outbound_destination::TRUSTED_HOSTS_VARIABLE;
    if !provided.contains_key(trusted) {
        values.insert(trusted.into(), DEV_TRUSTED_HOSTS.into());
        tracing::info!("development: webhooks and providers on this machine ({DEV_TRUSTED_HOSTS}) may be reached");
    }
    if let Some(turn) = turn
        && declared("turn_urls")
    {
        let mut urls: Vec<String> = turn.udp.iter().map(|a| format!("turn:{a}?transport=udp")).collect();
        urls.extend(turn.tcp.iter().map(|a| format!("turn:{a}?transport=tcp")));
        values.insert("turn_urls".into(), urls.join(","));
    }
    mailbox
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
