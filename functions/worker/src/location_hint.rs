//! The location hint a room's Durable Object is created with: the Cloudflare region nearest to
//! whoever first reaches the room (its creator, in practice), from `request.cf`. Without a
//! hint, Cloudflare places a new object near the Worker that first asks for it — the same
//! thing, except when that Worker runs far from the participant.

/// Cloudflare's location hints for Durable Objects.
pub const HINTS: [&str; 9] = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"];

/// Countries Cloudflare's `me` (Middle East) hint covers.
const MIDDLE_EAST: [&str; 17] =
    ["AE", "BH", "CY", "EG", "IL", "IQ", "IR", "JO", "KW", "LB", "OM", "PS", "QA", "SA", "SY", "TR", "YE"];

/// The hint for a caller in `continent` (`request.cf.continent`: `NA`, `SA`, `EU`, `AS`, `OC`,
/// `AF`, `AN`), `country` (ISO 3166-1 alpha-2) at longitude `lon`; `None` when unknown.
pub fn location_hint(continent: Option<&str>, country: Option<&str>, lon: Option<f64>) -> Option<&'static str> {
    if country.is_some_and(|c| MIDDLE_EAST.contains(&c.to_ascii_uppercase().as_str())) {
        return Some("me");
    }
    match continent? {
        // West of the Mississippi's longitude, roughly where both coasts' regions meet.
        "NA" => Some(if lon.is_some_and(|lon| lon < -98.0) { "wnam" } else { "enam" }),
        "SA" => Some("sam"),
        // East of Berlin's longitude counts as eastern Europe.
        "EU" => Some(if lon.is_some_and(|lon| lon > 16.0) { "eeur" } else { "weur" }),
        "AS" => Some("apac"),
        "OC" => Some("oc"),
        "AF" => Some("afr"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_by_continent_country_and_longitude() {
        assert_eq!(location_hint(Some("NA"), Some("US"), Some(-122.4)), Some("wnam"));
        assert_eq!(location_hint(Some("NA"), Some("US"), Some(-74.0)), Some("enam"));
        assert_eq!(location_hint(Some("NA"), None, None), Some("enam"));
        assert_eq!(location_hint(Some("EU"), Some("FR"), Some(2.35)), Some("weur"));
        assert_eq!(location_hint(Some("EU"), Some("PL"), Some(21.0)), Some("eeur"));
        assert_eq!(location_hint(Some("AS"), Some("AE"), Some(55.3)), Some("me"));
        assert_eq!(location_hint(Some("EU"), Some("tr"), Some(29.0)), Some("me"));
        assert_eq!(location_hint(Some("AS"), Some("JP"), Some(139.7)), Some("apac"));
        assert_eq!(location_hint(Some("OC"), Some("AU"), None), Some("oc"));
        assert_eq!(location_hint(Some("AF"), Some("NG"), None), Some("afr"));
        assert_eq!(location_hint(Some("SA"), Some("BR"), None), Some("sam"));
        assert_eq!(location_hint(Some("AN"), None, None), None);
        assert_eq!(location_hint(None, None, None), None);
        for hint in [Some("wnam"), Some("me")].into_iter().flatten() {
            assert!(HINTS.contains(&hint));
        }
    }
}
