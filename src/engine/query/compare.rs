//! Segment A against segment B and the base: sizes of A, B, both and each alone; every profile
//! metric for the three; a standardised difference per metric (ranked by size); and, for rate
//! metrics, a two-proportion test with Benjamini–Hochberg adjusted p-values across the metrics.
//! The test is a flag for a person to look at, never a claim of cause: the segments overlap and
//! the rates are shares of sums, so the test is a screening aid, not an inference.

use serde::Serialize;

use super::profile::MetricFormat;
use crate::engine::text::tokens::averaged_expr;
use crate::engine::{Compiled, Engine, Result, SqlBuilder};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub name: String,
    pub size: u64,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDiff {
    pub name: String,
    pub label: String,
    pub format: MetricFormat,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub base: Option<f64>,
    /// Standardised difference (A − B in pooled standard deviations): for rates from the rates
    /// themselves, for `avg`/`median` metrics from the spread of the averaged expression; None
    /// for other aggregates or when either side is empty.
    pub difference: Option<f64>,
    /// Rates only: the two-proportion test's p-value, before adjustment.
    pub p_value: Option<f64>,
    /// Rates only: Benjamini–Hochberg adjusted across the rate metrics.
    pub p_adjusted: Option<f64>,
    /// `p_adjusted` below `ALPHA`: worth a look.
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base: u64,
    pub a: Side,
    pub b: Side,
    pub both: u64,
    pub only_a: u64,
    pub only_b: u64,
    /// Ranked by the size of the standardised difference, largest first (unknown last).
    pub metrics: Vec<MetricDiff>,
}

/// The false discovery rate the flags are set at.
pub const ALPHA: f64 = 0.05;

impl Engine {
    /// Compares segments `a` and `b` (named for the output) with each other and the base.
    pub fn compare(&self, a: (&str, &Compiled), b: (&str, &Compiled)) -> Result<Comparison> {
        let pa = self.profile(a.1)?;
        let pb = self.profile(b.1)?;
        // One scan for the intersection and the spread of each averaged expression in A and B.
        let spreads: Vec<Option<String>> = self
            .metrics()
            .iter()
            .map(|m| if m.format == MetricFormat::Percent { None } else { averaged_expr(&m.sql) })
            .collect();
        let (both, sds) = self.both_and_spreads(a.1, b.1, &spreads)?;
        let mut sd_iter = sds.chunks(2);
        let mut metrics: Vec<MetricDiff> = pa
            .metrics
            .iter()
            .zip(&pb.metrics)
            .zip(&spreads)
            .map(|((ma, mb), spread)| {
                let (sa, sb) = match spread {
                    Some(_) => sd_iter.next().map_or((None, None), |c| (c[0], c.get(1).copied().flatten())),
                    None => (None, None),
                };
                let rate = ma.format == MetricFormat::Percent;
                let (difference, p_value) = match (ma.segment, mb.segment) {
                    (Some(x), Some(y)) if rate => (rate_difference(x, y), two_proportion_p(x, pa.size, y, pb.size)),
                    (Some(x), Some(y)) => (mean_difference(x, y, sa, sb), None),
                    _ => (None, None),
                };
                MetricDiff {
                    name: ma.name.clone(),
                    label: ma.label.clone(),
                    format: ma.format,
                    a: ma.segment,
                    b: mb.segment,
                    base: ma.base,
                    difference,
                    p_value,
                    p_adjusted: None,
                    flagged: false,
                }
            })
            .collect();
        let adjusted = benjamini_hochberg(&metrics.iter().map(|m| m.p_value).collect::<Vec<_>>());
        for (m, p) in metrics.iter_mut().zip(adjusted) {
            m.p_adjusted = p;
            m.flagged = p.is_some_and(|p| p < ALPHA);
        }
        metrics.sort_by(|x, y| {
            let key = |m: &MetricDiff| m.difference.map_or(-1.0, f64::abs);
            key(y).total_cmp(&key(x))
        });
        let base = self.base_size();
        let side = |name: &str, size: u64| Side {
            name: name.to_string(),
            size,
            share: if base == 0 { 0.0 } else { size as f64 / base as f64 },
        };
        Ok(Comparison {
            base,
            a: side(a.0, pa.size),
            b: side(b.0, pb.size),
            both,
            only_a: pa.size - both.min(pa.size),
            only_b: pb.size - both.min(pb.size),
            metrics,
        })
    }

    /// One scan: the members of both `a` and `b`, and each averaged expression's standard
    /// deviation in A and in B (two per `spreads` entry that is Some, in order).
    fn both_and_spreads(
        &self,
        a: &Compiled,
        b: &Compiled,
        spreads: &[Option<String>],
    ) -> Result<(u64, Vec<Option<f64>>)> {
        // Each filter is evaluated once, over the entity's own columns inside the subquery (as in
        // a size query): outside it, a rollup's `total` or `rows` would make an entity column of
        // that name ambiguous.
        let (in_a, in_b) = ("__seglens_in_a", "__seglens_in_b");
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT count(*) FILTER (WHERE {in_a} AND {in_b})"));
        for expr in spreads.iter().flatten() {
            for flag in [in_a, in_b] {
                q.push(&format!(", stddev_samp(CAST(({expr}) AS DOUBLE)) FILTER (WHERE {flag})"));
            }
        }
        let t = self.table_sql();
        q.push(" FROM (SELECT *, ");
        q.filter(a);
        q.push(&format!(" AS {in_a}, "));
        q.filter(b);
        q.push(&format!(" AS {in_b} FROM {t}) AS {t}"));
        // The profile's joins: metrics may read rollups of related tables.
        q.push(&self.rollup_joins()?);
        let n = spreads.iter().flatten().count();
        q.run(self, |s| {
            s.query_row([], |r| {
                let both: i64 = r.get(0)?;
                let sds = (0..2 * n).map(|i| r.get::<_, Option<f64>>(i + 1)).collect::<duckdb::Result<Vec<_>>>()?;
                Ok((both as u64, sds))
            })
        })
    }
}

/// Cohen's h-like standardised difference of two rates: (a − b) / sqrt((a(1−a) + b(1−b)) / 2).
fn rate_difference(a: f64, b: f64) -> Option<f64> {
    standardised(a, b, a * (1.0 - a), b * (1.0 - b))
}

/// (a − b) / sqrt((sd_a² + sd_b²) / 2).
fn mean_difference(a: f64, b: f64, sa: Option<f64>, sb: Option<f64>) -> Option<f64> {
    let (sa, sb) = (sa?, sb?);
    standardised(a, b, sa * sa, sb * sb)
}

/// (a − b) over the pooled spread of two variances; 0 when both agree without spread, None when
/// they differ without any.
fn standardised(a: f64, b: f64, var_a: f64, var_b: f64) -> Option<f64> {
    let pooled = ((var_a + var_b) / 2.0).max(0.0).sqrt();
    if pooled > 0.0 {
        Some((a - b) / pooled)
    } else if a == b {
        Some(0.0)
    } else {
        None
    }
}

/// Two-sided p-value of the pooled two-proportion z test of rate `a` over `na` customers against
/// `b` over `nb`. None when a side is empty or the rates are outside 0..1.
pub fn two_proportion_p(a: f64, na: u64, b: f64, nb: u64) -> Option<f64> {
    if na == 0 || nb == 0 || !(0.0..=1.0).contains(&a) || !(0.0..=1.0).contains(&b) {
        return None;
    }
    let (na, nb) = (na as f64, nb as f64);
    let p = (a * na + b * nb) / (na + nb);
    let se = (p * (1.0 - p) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return Some(if a == b { 1.0 } else { 0.0 });
    }
    let z = (a - b).abs() / se;
    Some((2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0))
}

/// The standard normal CDF, from the complementary error function (Numerical Recipes' `erfcc`
/// Chebyshev fit: fractional error below 1.2e-7 everywhere, ample for a flag).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Benjamini–Hochberg adjusted p-values of the known ones (None stays None): the m known
/// p-values sorted ascending get `min over j ≥ i of p(j) · m / j`, capped at 1.
pub fn benjamini_hochberg(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut known: Vec<(usize, f64)> = p.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    known.sort_by(|x, y| x.1.total_cmp(&y.1));
    let m = known.len() as f64;
    let mut out = vec![None; p.len()];
    let mut running = 1.0f64;
    for (rank, &(i, v)) in known.iter().enumerate().rev() {
        running = running.min(v * m / (rank as f64 + 1.0)).min(1.0);
        out[i] = Some(running);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_known_values() {
        for (x, want) in [(0.0, 0.5), (1.959_963_985, 0.975), (-1.0, 0.158_655_254), (3.0, 0.998_650_102)] {
            assert!((normal_cdf(x) - want).abs() < 1e-6, "Φ({x}) = {} want {want}", normal_cdf(x));
        }
    }

    #[test]
    fn two_proportion_test_matches_a_hand_computation() {
        // 60/100 vs 45/100: pooled 0.525, se = sqrt(.525 · .475 · .02) = 0.070622, z = 2.1240.
        let p = two_proportion_p(0.60, 100, 0.45, 100).unwrap();
        assert!((p - 0.033_668).abs() < 1e-4, "{p}");
        assert_eq!(two_proportion_p(0.5, 0, 0.5, 10), None);
    }

    #[test]
    fn bh_adjusts_like_the_textbook() {
        let adj = benjamini_hochberg(&[Some(0.01), None, Some(0.04), Some(0.03), Some(0.5)]);
        let want = [Some(0.04), None, Some(0.053_333), Some(0.053_333), Some(0.5)];
        for (g, w) in adj.iter().zip(want) {
            match (g, w) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-5, "{adj:?}"),
                (g, w) => assert_eq!(*g, w),
            }
        }
    }
}
