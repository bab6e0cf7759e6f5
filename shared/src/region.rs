//! Regions: where media nodes run and participants are. A catalog of regions with coordinates,
//! great-circle distance, and "which region is nearest to this point".

use serde::{Deserialize, Serialize};

/// A point on Earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, -90 to 90 (north positive).
    pub lat: f64,
    /// Longitude, -180 to 180 (east positive).
    pub lon: f64,
}

/// Mean Earth radius (IUGG), kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

impl GeoPoint {
    /// A point, or `None` when the coordinates are not finite or out of range.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let ok = lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        ok.then_some(GeoPoint { lat, lon })
    }

    /// Parses `"lat,lon"` (as sent in `X-Origo-Geo`). Whitespace around numbers is allowed.
    pub fn parse(s: &str) -> Option<Self> {
        let (lat, lon) = s.split_once(',')?;
        Self::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?)
    }

    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// One region of the deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Stable id used in node descriptors and configuration (`eu-west`).
    pub id: String,
    /// Human-readable name (`Europe West (Dublin)`).
    pub name: String,
    /// The coordinates of the region's metro (Dublin for `eu-west`), as top-level `lat`/`lon`.
    #[serde(flatten)]
    pub location: GeoPoint,
}

/// The regions a deployment knows about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionCatalog {
    regions: Vec<Region>,
}

/// Why [`RegionCatalog::new`] refused a list of regions; each holds the offending region id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// Two regions have this id.
    #[error("region id `{0}` appears twice")]
    Duplicate(String),
    /// The region's latitude or longitude is not finite or out of range.
    #[error("region `{0}` has invalid coordinates")]
    BadCoordinates(String),
    /// The id is not 1-64 characters of `a-z`, `0-9` and `-`.
    #[error("region id `{0}` is not a lowercase slug")]
    BadId(String),
}

impl RegionCatalog {
    /// A catalog from a list; ids must be unique lowercase slugs and coordinates valid.
    pub fn new(regions: Vec<Region>) -> Result<Self, RegionError> {
        for (i, r) in regions.iter().enumerate() {
            let slug = !r.id.is_empty()
                && r.id.len() <= 64
                && r.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !slug {
                return Err(RegionError::BadId(r.id.clone()));
            }
            if GeoPoint::new(r.location.lat, r.location.lon).is_none() {
                return Err(RegionError::BadCoordinates(r.id.clone()));
            }
            if regions[..i].iter().any(|o| o.id == r.id) {
                return Err(RegionError::Duplicate(r.id.clone()));
            }
        }
        Ok(RegionCatalog { regions })
    }

    /// Every region, in the order the catalog was built with.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region with id `id`, if the catalog has it.
    pub fn get(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// Distance in km between two regions of the catalog.
    pub fn distance_km(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.get(a)?.location.distance_km(&self.get(b)?.location))
    }

    /// The region nearest to `point`; ties go to the lower id so the answer is deterministic.
    pub fn nearest(&self, point: &GeoPoint) -> Option<&Region> {
        self.by_distance(point).into_iter().next().map(|(r, _)| r)
    }

    /// Every region with its distance from `point`, nearest first (ties by id).
    pub fn by_distance(&self, point: &GeoPoint) -> Vec<(&Region, f64)> {
        let mut v: Vec<(&Region, f64)> = self.regions.iter().map(|r| (r, r.location.distance_km(point))).collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
        v
    }
}

impl Default for RegionCatalog {
    /// The regions Origo ships with: one per major metro where cloud providers have a zone.
    fn default() -> Self {
        let r = |id: &str, name: &str, lat: f64, lon: f64| Region {
            id: id.to_owned(),
            name: name.to_owned(),
            location: GeoPoint { lat, lon },
        };
        RegionCatalog {
            regions: vec![
                r("us-east", "US East (Ashburn)", 39.0438, -77.4874),
                r("us-central", "US Central (Chicago)", 41.8781, -87.6298),
                r("us-west", "US West (San Jose)", 37.3382, -121.8863),
                r("ca-central", "Canada (Montreal)", 45.5019, -73.5674),
                r("sa-east", "South America (Sao Paulo)", -23.5558, -46.6396),
                r("eu-west", "Europe West (Dublin)", 53.3498, -6.2603),
                r("eu-central", "Europe Central (Frankfurt)", 50.1109, 8.6821),
                r("eu-north", "Europe North (Stockholm)", 59.3293, 18.0686),
                r("me-central", "Middle East (Dubai)", 25.2048, 55.2708),
                r("af-south", "Africa (Johannesburg)", -26.2041, 28.0473),
                r("ap-south", "Asia Pacific (Mumbai)", 19.0760, 72.8777),
                r("ap-southeast", "Asia Pacific (Singapore)", 1.3521, 103.8198),
                r("ap-northeast", "Asia Pacific (Tokyo)", 35.6762, 139.6503),
                r("ap-southeast-2", "Asia Pacific (Sydney)", -33.8688, 151.2093),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon).unwrap()
    }

    #[test]
    fn known_distances() {
        // London–Paris ≈ 344 km, New York–Los Angeles ≈ 3936 km (great circle).
        let london = p(51.5074, -0.1278);
        let paris = p(48.8566, 2.3522);
        let nyc = p(40.7128, -74.0060);
        let la = p(34.0522, -118.2437);
        assert!((london.distance_km(&paris) - 343.5).abs() < 3.0, "{}", london.distance_km(&paris));
        assert!((nyc.distance_km(&la) - 3936.0).abs() < 15.0, "{}", nyc.distance_km(&la));
        // Antipodes: half the circumference.
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        assert!((p(0.0, 0.0).distance_km(&p(0.0, 180.0)) - half).abs() < 1e-6);
    }

    #[test]
    fn nearest_region_of_some_cities() {
        let cat = RegionCatalog::default();
        let cases = [
            ((48.8566, 2.3522), "eu-central"),        // Paris is nearer Frankfurt than Dublin
            ((51.5074, -0.1278), "eu-west"),          // London
            ((40.7128, -74.0060), "us-east"),         // New York
            ((47.6062, -122.3321), "us-west"),        // Seattle
            ((-33.45, -70.66), "sa-east"),            // Santiago
            ((37.5665, 126.9780), "ap-northeast"),    // Seoul
            ((-36.8485, 174.7633), "ap-southeast-2"), // Auckland
            ((13.7563, 100.5018), "ap-southeast"),    // Bangkok
            ((-1.2921, 36.8219), "af-south"),         // Nairobi: ~2,900 km to Johannesburg, ~3,500 to Dubai
        ];
        for ((lat, lon), want) in cases {
            let got = cat.nearest(&p(lat, lon)).unwrap();
            let dists = cat.by_distance(&p(lat, lon));
            assert_eq!(got.id, dists[0].0.id);
            assert_eq!(got.id, want, "({lat},{lon})");
        }
    }

    #[test]
    fn parse_geo_header() {
        assert_eq!(GeoPoint::parse("52.52,13.405"), Some(p(52.52, 13.405)));
        assert_eq!(GeoPoint::parse(" -33.9 , 151.2 "), Some(p(-33.9, 151.2)));
        for bad in ["", "52.52", "a,b", "91,0", "0,181", "NaN,0", "inf,0", "1,2,3"] {
            assert_eq!(GeoPoint::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn catalog_validation() {
        let ok = RegionCatalog::default().regions().to_vec();
        assert!(RegionCatalog::new(ok.clone()).is_ok());
        let mut dup = ok.clone();
        dup.push(ok[0].clone());
        assert_eq!(RegionCatalog::new(dup), Err(RegionError::Duplicate(ok[0].id.clone())));
        let mut bad = ok.clone();
        bad[1].location.lat = 123.0;
        assert!(matches!(RegionCatalog::new(bad), Err(RegionError::BadCoordinates(_))));
        let mut bad_id = ok;
        bad_id[0].id = "EU West".into();
        assert!(matches!(RegionCatalog::new(bad_id), Err(RegionError::BadId(_))));
        assert!(RegionCatalog::new(vec![]).unwrap().nearest(&p(0.0, 0.0)).is_none());
    }

    #[test]
    fn region_serialises_flat() {
        let r = RegionCatalog::default().get("eu-west").unwrap().clone();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["id"], "eu-west");
        assert!(v["lat"].is_number() && v["lon"].is_number());
        assert_eq!(serde_json::from_value::<Region>(v).unwrap(), r);
    }

    proptest! {
        #[test]
        fn distance_is_a_metric(a in (-90.0f64..=90.0, -180.0f64..=180.0),
                                b in (-90.0f64..=90.0, -180.0f64..=180.0),
                                c in (-90.0f64..=90.0, -180.0f64..=180.0)) {
            let (a, b, c) = (p(a.0, a.1), p(b.0, b.1), p(c.0, c.1));
            let ab = a.distance_km(&b);
            prop_assert!((0.0..=std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6).contains(&ab));
            prop_assert!((ab - b.distance_km(&a)).abs() < 1e-6);
            prop_assert!(a.distance_km(&a) < 1e-6);
            prop_assert!(ab <= a.distance_km(&c) + c.distance_km(&b) + 1e-6);
        }

        #[test]
        fn nearest_is_never_farther_than_any_region(lat in -90.0f64..=90.0, lon in -180.0f64..=180.0) {
            let cat = RegionCatalog::default();
            let here = p(lat, lon);
            let best = cat.nearest(&here).unwrap();
            let d = best.location.distance_km(&here);
            for r in cat.regions() {
                prop_assert!(d <= r.location.distance_km(&here) + 1e-9);
            }
        }
    }
}
