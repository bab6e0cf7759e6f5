//! The client `origo` sends the components' outbound requests with (every host but the
//! in-process `origo.internal`), and the one native code uses for destinations a customer or
//! a configuration chose: [`origo_guarded_client`], built from the deployment's variables.
//!
//! Trusted (plain `http`, any address): the hosts in `outbound_trusted_hosts`, and the host of
//! `coordinator_internal_url` when it is set (the deployment's own coordinators, not a
//! customer's choice). `origo dev` trusts `127.0.0.1`, `localhost` and `[::1]` unless the
//! variable is given ([`crate::variables::dev_defaults`]); `origo edge` trusts nothing else.

use std::collections::HashMap;
use std::sync::Arc;

pub use origo_guarded_client::{
    DestinationError, GuardedClient, NameResolver, Refusal, StaticResolver, SystemResolver, TrustedHosts,
};
use origo_shared::outbound_destination::TRUSTED_HOSTS_VARIABLE;

/// The hosts the deployment's variables trust.
pub fn trusted_hosts(variables: &HashMap<String, String>) -> anyhow::Result<TrustedHosts> {
    let list = variables.get(TRUSTED_HOSTS_VARIABLE).map(String::as_str).unwrap_or("");
    let mut trusted = TrustedHosts::parse(list).map_err(anyhow::Error::msg)?;
    if let Some(url) = variables.get("coordinator_internal_url").filter(|u| !u.trim().is_empty()) {
        let uri: http::Uri =
            url.trim().parse().map_err(|e| anyhow::anyhow!("coordinator_internal_url {url:?} is not a URL: {e}"))?;
        if let Some(authority) = uri.authority() {
            trusted
                .add(authority.as_str().rsplit('@').next().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("coordinator_internal_url: {e}"))?;
        }
    }
    Ok(trusted)
}

/// The guarded client for the deployment's variables, resolving with `resolver` and reading
/// responses up to `max_response_bytes`.
pub fn for_deployment(
    variables: &HashMap<String, String>,
    resolver: Arc<dyn NameResolver>,
    max_response_bytes: usize,
) -> anyhow::Result<GuardedClient> {
    let client = GuardedClient::new(trusted_hosts(variables)?, resolver).map_err(anyhow::Error::msg)?;
    Ok(client.with_max_response_bytes(max_response_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use origo_guarded_client::Refusal;
    use origo_shared::outbound_destination::{DestinationHost, check_url};

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn trusts_the_variable_and_the_coordinators() {
        let t = trusted_hosts(&vars(&[
            (TRUSTED_HOSTS_VARIABLE, "mail.relay.internal:2525"),
            ("coordinator_internal_url", "http://rooms.internal:8080"),
        ]))
        .unwrap();
        assert!(check_url("http://mail.relay.internal:2525/send", &t).unwrap().trusted);
        assert!(check_url("http://rooms.internal:8080/internal/v1/rooms/o/r/commands", &t).unwrap().trusted);
        assert_eq!(check_url("http://rooms.internal:9090/", &t), Err(Refusal::PlainHttp));
        assert!(t.trusts(&DestinationHost::Name("rooms.internal".into()), 8080));
    }

    #[test]
    fn trusts_nothing_by_default() {
        let t = trusted_hosts(&HashMap::new()).unwrap();
        assert!(t.is_empty());
        assert!(trusted_hosts(&vars(&[(TRUSTED_HOSTS_VARIABLE, "a:b")])).is_err());
    }
}
