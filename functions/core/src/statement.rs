//! An organisation's statement for one month: line items — the plan's monthly fee,
//! participant-minutes, media-minutes, TURN gigabytes — each with its quantity, unit price and
//! amount, their total, and the month's usage day by day. Pure: the usage and the plan in, the
//! statement out; [`crate::billing`] serves it as JSON or CSV.
//!
//! Amounts are exact (micro-units, [`Money`]): a line's amount is its quantity times its unit
//! price rounded half up to a micro-unit, and the total is the sum of the lines' amounts.

use serde::Serialize;

use crate::money::Money;
use crate::plan::Plan;
use crate::quota::GIGABYTE;
use crate::store::usage::Usage;

/// A statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statement {
    pub org: String,
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub currency: String,
    /// The plan in force at the end of the month (or now, for the month under way).
    pub plan: PlanRef,
    /// False while the month is under way: the figures still grow.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub lines: Vec<Line>,
    /// The sum of the lines' amounts.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub total: Money,
    /// The month's usage per day (days with any).
    pub daily: Vec<Day>,
}

/// The plan a statement bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanRef {
    pub id: String,
    pub name: String,
}

/// One line item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Line {
    /// `monthly_fee`, `participant_minutes`, `media_minutes`, `turn_gigabytes`.
    pub item: String,
    pub description: String,
    /// A decimal string in `unit`s (`"1250.500"`).
    pub quantity: String,
    pub unit: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub unit_price: Money,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub amount: Money,
}

/// One day's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub participant_minutes: String,
    pub media_minutes: String,
    pub relayed_gigabytes: String,
}

/// `n / per` as a decimal string with `places` decimals (rounded down).
fn ratio(n: u64, per: u64, places: u32) -> String {
    let scale = 10u128.pow(places);
    let scaled = u128::from(n) * scale / u128::from(per.max(1));
    let (whole, frac) = (scaled / scale, scaled % scale);
    if places == 0 { whole.to_string() } else { format!("{whole}.{frac:0width$}", width = places as usize) }
}

impl Statement {
    /// The statement of `usage` in `month` under `plan`.
    pub fn of(org: &str, month: &str, currency: &str, plan: &Plan, usage: &Usage, is_final: bool) -> Statement {
        let prices = &plan.prices;
        let lines = vec![
            Line {
                item: "monthly_fee".into(),
                description: format!("{} plan, monthly fee", plan.name),
                quantity: "1".into(),
                unit: "month".into(),
                unit_price: plan.monthly_fee,
                amount: plan.monthly_fee,
            },
            Line {
                item: "participant_minutes".into(),
                description: "Participant time in meetings".into(),
                quantity: ratio(usage.participant_ms, 60_000, 3),
                unit: "participant-minute".into(),
                unit_price: prices.participant_minute,
                amount: prices.participant_minute.times_ratio(usage.participant_ms, 60_000),
            },
            Line {
                item: "media_minutes".into(),
                description: "Participant time with media connected".into(),
                quantity: ratio(usage.media_participant_ms, 60_000, 3),
                unit: "media-minute".into(),
                unit_price: prices.media_minute,
                amount: prices.media_minute.times_ratio(usage.media_participant_ms, 60_000),
            },
            Line {
                item: "turn_gigabytes".into(),
                description: "Media relayed by TURN (application bytes, both ways)".into(),
                quantity: ratio(usage.relayed_bytes, GIGABYTE, 6),
                unit: "GB".into(),
                unit_price: prices.turn_gigabyte,
                amount: prices.turn_gigabyte.times_ratio(usage.relayed_bytes, GIGABYTE),
            },
        ];
        let total = lines.iter().fold(Money(0), |sum, l| sum.plus(l.amount));
        let daily = usage
            .daily
            .iter()
            .map(|(day, d)| Day {
                date: format!("{month}-{day}"),
                participant_minutes: ratio(d.participant_ms, 60_000, 3),
                media_minutes: ratio(d.media_participant_ms, 60_000, 3),
                relayed_gigabytes: ratio(d.relayed_bytes, GIGABYTE, 6),
            })
            .collect();
        Statement {
            org: org.to_owned(),
            month: month.to_owned(),
            currency: currency.to_owned(),
            plan: PlanRef { id: plan.id.clone(), name: plan.name.clone() },
            is_final,
            lines,
            total,
            daily,
        }
    }

    /// The statement as CSV: one row per line item, then the total.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = ["org", "month", "item", "description", "quantity", "unit", "unit_price", "amount", "currency"];
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        for l in &self.lines {
            let (price, amount) = (l.unit_price.to_string(), l.amount.exact());
            let row = [
                &self.org,
                &self.month,
                &l.item,
                &l.description,
                &l.quantity,
                &l.unit,
                &price,
                &amount,
                &self.currency,
            ];
            let _ = w.write_record(row);
        }
        let total = self.total.exact();
        let _ = w.write_record([&self.org, &self.month, "total", "Total", "", "", "", &total, &self.currency]);
        w.into_inner().unwrap_or_default()
    }
}

/// The first millisecond of `month` (`YYYY-MM`) and of the month after it; `None` for a
/// string that is no month.
pub fn month_bounds(month: &str) -> Option<(u64, u64)> {
    let (y, m) = month.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let start = days_from_civil(y, m)?;
    let end = if m == 12 { days_from_civil(y + 1, 1)? } else { days_from_civil(y, m + 1)? };
    Some((start * 86_400_000, end * 86_400_000))
}

/// Days from 1970-01-01 to the first of month `m` of year `y` (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64) -> Option<u64> {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BUILT_IN, PlanBook};

    #[test]
    fn the_total_is_the_sum_of_the_lines_and_each_line_is_quantity_times_price() {
        let book = PlanBook::parse(BUILT_IN).unwrap();
        let pro = book.get("pro").unwrap();
        let mut usage = Usage::default();
        usage.add_participant_ms("01", 90_000); // 1.5 minutes
        usage.add_participant_ms("02", 1_234_567);
        usage.add_relayed("02", 1_500_000_000, 40_000);
        let s = Statement::of("o1", "2026-12", "USD", pro, &usage, false);
        let sum = s.lines.iter().fold(Money(0), |a, l| a.plus(l.amount));
        assert_eq!(s.total, sum);
        let minutes = &s.lines[1];
        assert_eq!((minutes.quantity.as_str(), minutes.unit_price.to_string()), ("22.076", "0.002".to_owned()));
        assert_eq!(minutes.amount, Money(2_000).times_ratio(1_324_567, 60_000));
        assert_eq!(s.lines[3].quantity, "1.500000");
        assert_eq!(s.lines[3].amount, Money(150_000));
        assert_eq!(s.lines[0].amount, Money(15_000_000));
        assert_eq!(s.daily.len(), 2);
        assert_eq!((s.daily[0].date.as_str(), s.daily[0].participant_minutes.as_str()), ("2026-12-01", "1.500"));
        let csv = String::from_utf8(s.to_csv()).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 6, "{csv}");
        assert!(rows[1].contains("\"Pro plan, monthly fee\""), "a comma is quoted: {csv}");
        assert!(rows[5].ends_with(&format!("{},USD", s.total.exact())));
    }

    #[test]
    fn months_have_their_bounds() {
        assert_eq!(month_bounds("1970-01"), Some((0, 31 * 86_400_000)));
        let (start, end) = month_bounds("2000-02").unwrap();
        assert_eq!((end - start) / 86_400_000, 29);
        assert_eq!(month_bounds("2026-12").unwrap().1, 1_798_761_600_000);
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "abcd-ef"] {
            assert_eq!(month_bounds(bad), None, "{bad}");
        }
    }
}
