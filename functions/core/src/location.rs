//! Where a participant is, for choosing the nearest node. Precedence, strongest first:
//!
//! 1. **The CDN's own geolocation** — on Cloudflare, `request.cf` latitude/longitude, which the
//!    Workers host puts in the request's extensions as [`EdgeLocation`]. Clients cannot set it.
//! 2. **`X-Origo-Geo: lat,lon` from a trusted proxy** — honoured only when the connection
//!    comes from an address in `trusted_proxies` (comma-separated IPs or CIDRs; the address is
//!    the one the host saw, `spin-client-addr`). From anyone else the header is ignored.
//! 3. **The region the client names** (`region` in the join body) — a preference, not a proof.
//! 4. **The room's region hint.**
//! 5. Unknown: every region is equally near and load decides.

use origo_shared::ApiError;
use origo_shared::node::Origin;
use origo_shared::region::{GeoPoint, RegionCatalog};
use serde::Serialize;

use crate::Request;
use crate::platform::Platform;

/// The header a trusted proxy sets.
pub const GEO_HEADER: &str = "x-origo-geo";

/// Coordinates established by the hosting edge itself (Cloudflare's `request.cf`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeLocation {
    pub lat: f64,
    pub lon: f64,
}

/// Which rule decided the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OriginSource {
    Edge,
    TrustedProxy,
    Client,
    RoomHint,
    Unknown,
}

pub use crate::client_address::in_cidr;

fn from_trusted_proxy(req: &Request, p: &impl Platform) -> Option<GeoPoint> {
    let header = req.headers().get(GEO_HEADER)?.to_str().ok()?;
    let ip = crate::client_address::peer(req)?;
    if !crate::client_address::is_trusted_proxy(p, ip) {
        return None;
    }
    GeoPoint::parse(header)
}

/// The participant's origin and the rule that gave it. A client-named region that is not in
/// the catalog is a 400.
pub fn origin(
    req: &Request,
    p: &impl Platform,
    catalog: &RegionCatalog,
    client_region: Option<&str>,
    room_hint: Option<&str>,
) -> Result<(Origin, OriginSource), ApiError> {
    if let Some(loc) = req.extensions().get::<EdgeLocation>()
        && GeoPoint::new(loc.lat, loc.lon).is_some()
    {
        return Ok((Origin::Point { lat: loc.lat, lon: loc.lon }, OriginSource::Edge));
    }
    if let Some(point) = from_trusted_proxy(req, p) {
        return Ok((Origin::Point { lat: point.lat, lon: point.lon }, OriginSource::TrustedProxy));
    }
    if let Some(region) = client_region {
        if catalog.get(region).is_none() {
            return Err(ApiError::bad_request(format!(
                "unknown region {:?}",
                region.chars().take(32).collect::<String>()
            )));
        }
        return Ok((Origin::Region { id: region.to_owned() }, OriginSource::Client));
    }
    if let Some(region) = room_hint.filter(|r| catalog.get(r).is_some()) {
        return Ok((Origin::Region { id: region.to_owned() }, OriginSource::RoomHint));
    }
    Ok((Origin::Unknown, OriginSource::Unknown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn cidrs() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(in_cidr(v4, "10.0.0.0/8"));
        assert!(in_cidr(v4, "10.1.2.3"));
        assert!(!in_cidr(v4, "10.1.2.4"));
        assert!(!in_cidr(v4, "11.0.0.0/8"));
        assert!(in_cidr(v4, "0.0.0.0/0"));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(in_cidr(v6, "2001:db8::/32"));
        assert!(!in_cidr(v6, "2001:db9::/32"));
        assert!(!in_cidr(v6, "10.0.0.0/8"));
        assert!(!in_cidr(v4, "garbage"));
    }
}
