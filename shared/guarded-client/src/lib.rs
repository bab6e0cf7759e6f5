//! `origo-guarded-client`: outbound HTTP to destinations a customer or a configuration chose
//! (webhook endpoints, the OIDC issuer, email and other providers), under the rule of
//! [`origo_shared::outbound_destination`]: `https` only unless the deployment trusts the host,
//! every address a name resolves to checked against
//! [`origo_shared::destination_policy`], the connection made only to an address that was
//! checked, no redirect followed, bounded in time and size.
//!
//! Used by `origo` for the components' outbound requests (and its native webhook delivery)
//! and by `origo-lambda` for the functions' requests.

pub mod destination_error;
pub mod guarded_client;
pub mod name_resolver;

pub use destination_error::DestinationError;
pub use guarded_client::GuardedClient;
pub use name_resolver::{NameResolver, StaticResolver, SystemResolver};
pub use origo_shared::outbound_destination::{Refusal, TrustedHosts};
