//! Amounts of money, exact: whole millionths of the currency's unit (micro-units), written in
//! documents and statements as decimal strings (`"0.002"`, `"15"`, `"12.345678"`) so no
//! binary fraction ever rounds a price.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Micro-units in one unit of the currency.
pub const MICROS: u64 = 1_000_000;

/// An amount in micro-units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(pub u64);

impl Money {
    /// Parses `"12"`, `"0.002"` (at most six decimals, no sign, no exponent).
    pub fn parse(s: &str) -> Option<Money> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || frac.len() > 6 || !digits(whole) || !digits(frac) {
            return None;
        }
        if s.ends_with('.') {
            return None;
        }
        let whole: u64 = whole.parse().ok()?;
        let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
        whole.checked_mul(MICROS)?.checked_add(frac).map(Money)
    }

    /// `quantity / per` units at this price each, rounded half up to a micro-unit.
    pub fn times_ratio(self, quantity: u64, per: u64) -> Money {
        if per == 0 {
            return Money(0);
        }
        let product = u128::from(self.0) * u128::from(quantity);
        let per = u128::from(per);
        Money(u64::try_from((product + per / 2) / per).unwrap_or(u64::MAX))
    }

    /// The sum, saturating.
    pub fn plus(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// `12.345600`: six decimals.
    pub fn exact(self) -> String {
        format!("{}.{:06}", self.0 / MICROS, self.0 % MICROS)
    }

    /// `12.35`: rounded half up to cents, for people.
    pub fn cents(self) -> String {
        let cents = (self.0 + 5_000) / 10_000;
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The shortest exact decimal: `15`, `0.002`.
        let s = self.exact();
        f.write_str(s.trim_end_matches('0').trim_end_matches('.'))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Money::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an amount: digits, at most six decimals")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_and_print_back() {
        assert_eq!(Money::parse("0.002"), Some(Money(2_000)));
        assert_eq!(Money::parse("15"), Some(Money(15_000_000)));
        assert_eq!(Money::parse("12.345678"), Some(Money(12_345_678)));
        for bad in ["", ".5", "5.", "-1", "1e3", "0.0000001", "1,5", " 1"] {
            assert_eq!(Money::parse(bad), None, "{bad}");
        }
        assert_eq!(Money(2_000).to_string(), "0.002");
        assert_eq!(Money(15_000_000).to_string(), "15");
        assert_eq!(Money(0).to_string(), "0");
        assert_eq!(Money(12_345_678).cents(), "12.35");
        assert_eq!(Money(5_000).exact(), "0.005000");
    }

    #[test]
    fn a_price_per_unit_times_a_fractional_quantity_rounds_half_up() {
        // 90 s of participant time at 0.002 a minute is 0.003.
        assert_eq!(Money(2_000).times_ratio(90_000, 60_000), Money(3_000));
        // 1.5 GB at 0.1 a gigabyte.
        assert_eq!(Money(100_000).times_ratio(1_500_000_000, 1_000_000_000), Money(150_000));
        assert_eq!(Money(1).times_ratio(1, 2), Money(1), "half rounds up");
        assert_eq!(Money(7).times_ratio(5, 0), Money(0));
    }
}
