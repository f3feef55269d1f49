//! Arms: holdouts and A/B groups that never move. A customer's arm is a pure function of
//! (salt, key), specified here so that any SQL engine computes the same arm:
//!
//! 1. `text = salt || ':' || key`, the key as text (`CAST(key AS VARCHAR)`: integers in decimal);
//! 2. `h = sha256(text)`, as 64 lowercase hex digits (UTF-8 bytes hashed);
//! 3. `n` = the first 8 hex digits as an unsigned integer (0 to 2^32 - 1);
//! 4. `bucket = floor(n * 10000 / 2^32)`, 0 to 9999;
//! 5. the arms, in the order declared, take consecutive bucket ranges of `share * 10000` buckets:
//!    `control = 0.1, treatment = 0.9` gives control 0-999 and treatment 1000-9999.
//!
//! Not DuckDB's `hash()`, whose output changed between versions. SHA-256 and hex parsing exist in
//! every engine (DuckDB: `('0x' || left(sha256(t), 8))::UBIGINT`; Postgres:
//! `('x' || left(encode(sha256(convert_to(t, 'UTF8')), 'hex'), 8))::bit(32)::bigint`; Spark:
//! `conv(left(sha2(t, 256), 8), 16, 10)`; Trino: `from_base(substr(to_hex(sha256(to_utf8(t))), 1, 8), 16)`
//! (upper-case hex, same value)). A customer keeps their bucket whatever the shares: changing them
//! moves only the customers whose bucket changes arm.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::compare::{benjamini_hochberg, normal_cdf, two_proportion_p};
use super::profile::MetricFormat;
use crate::engine::{Compiled, Engine, EngineError, Result, SqlBuilder, ident, literal};

pub const BUCKETS: u32 = 10_000;
/// The hash, as the manifest names it.
pub const HASH: &str = "sha256(salt || ':' || key) → first 8 hex digits n → bucket floor(n * 10000 / 2^32)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    pub name: String,
    /// A share of the segment, a multiple of 0.0001; the shares add up to 1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arms {
    pub salt: String,
    /// In bucket order (the order declared).
    pub arm: Vec<Arm>,
}

/// The bucket of `key` (as text) under `salt`.
pub fn bucket(salt: &str, key: &str) -> u32 {
    let h = Sha256::digest(format!("{salt}:{key}").as_bytes());
    let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    ((u64::from(n) * u64::from(BUCKETS)) >> 32) as u32
}

impl Arms {
    /// `control=0.1,treatment=0.9` with a salt.
    pub fn parse(spec: &str, salt: &str) -> std::result::Result<Arms, String> {
        let mut arm = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) = part
                .split_once('=')
                .ok_or_else(|| format!("--arms {part:?}: expected NAME=SHARE, e.g. control=0.1"))?;
            let share: f64 =
                share.trim().parse().map_err(|_| format!("--arms {part:?}: {share:?} is not a share such as 0.1"))?;
            arm.push(Arm { name: name.trim().to_string(), share });
        }
        let arms = Arms { salt: salt.to_string(), arm };
        arms.bounds()?;
        Ok(arms)
    }

    /// Each arm's bucket range [from, to), checked: names distinct and plain, shares positive
    /// multiples of 0.0001 adding up to 1.
    pub fn bounds(&self) -> std::result::Result<Vec<(String, u32, u32)>, String> {
        if self.arm.len() < 2 {
            return Err("declare at least two arms, e.g. control=0.1,treatment=0.9".into());
        }
        if self.salt.is_empty() {
            return Err("arms need a salt (e.g. the campaign's name): --salt holi26".into());
        }
        let mut out = Vec::new();
        let mut at = 0u32;
        for a in &self.arm {
            let ok_name =
                !a.name.is_empty() && a.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name {
                return Err(format!("arm name {:?}: use letters, digits, - and _", a.name));
            }
            if out.iter().any(|(n, _, _)| *n == a.name) {
                return Err(format!("arm {} is declared twice", a.name));
            }
            let b = a.share * f64::from(BUCKETS);
            if !(b.is_finite() && b >= 1.0 && (b - b.round()).abs() < 1e-6) {
                return Err(format!("arm {}: share {} is not a positive multiple of 0.0001", a.name, a.share));
            }
            let to = at + b.round() as u32;
            out.push((a.name.clone(), at, to));
            at = to;
        }
        if at != BUCKETS {
            return Err(format!("the arms' shares add up to {}, not 1", f64::from(at) / f64::from(BUCKETS)));
        }
        Ok(out)
    }

    /// The arm of `key` (as text).
    pub fn arm_of(&self, key: &str) -> Option<String> {
        let b = bucket(&self.salt, key);
        self.bounds().ok()?.into_iter().find(|(_, from, to)| (*from..*to).contains(&b)).map(|(n, _, _)| n)
    }

    /// The bucket of `key_sql` in DuckDB SQL (stable functions only).
    pub fn bucket_sql(&self, key_sql: &str) -> String {
        let salt = literal(&format!("{}:", self.salt));
        format!("((('0x' || left(sha256({salt} || CAST({key_sql} AS VARCHAR)), 8))::UBIGINT * {BUCKETS}) >> 32)")
    }

    /// The arm name of `key_sql` in DuckDB SQL; arms that `bounds` refuses (shares not adding up
    /// to 1, written by hand) are refused here too, never emitted as a CASE that misplaces customers.
    pub fn arm_sql(&self, key_sql: &str) -> std::result::Result<String, String> {
        self.arm_case(&self.bucket_sql(key_sql))
    }

    /// `CASE WHEN bucket < to THEN 'name' ... END` over `bucket`, a bucket expression in any
    /// dialect (`dialect::Target` writes the others). Arm names are plain (`bounds` checks), so
    /// `'name'` is the same literal on every engine.
    pub fn arm_case(&self, bucket: &str) -> std::result::Result<String, String> {
        let mut case = String::from("CASE");
        for (name, _, to) in self.bounds()? {
            case.push_str(&format!(" WHEN {bucket} < {to} THEN {}", literal(&name)));
        }
        case.push_str(" END");
        Ok(case)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmMetric {
    pub name: String,
    pub format: MetricFormat,
    pub value: Option<f64>,
    /// The value over the other arms together.
    pub rest: Option<f64>,
    /// Two-proportion test of this arm against the rest (rates and shares only).
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg over every arm and metric.
    pub p_adjusted: Option<f64>,
    /// Differs beyond chance: adjusted p below 0.01.
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmSize {
    pub name: String,
    pub share: f64,
    pub size: u64,
    pub expected: f64,
    pub metrics: Vec<ArmMetric>,
}

/// Each arm's exact size and profile, with a balance check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmReport {
    pub salt: String,
    pub hash: &'static str,
    pub size: u64,
    pub arms: Vec<ArmSize>,
    /// Sample-ratio check: p of the sizes against the declared shares (chi-square).
    pub ratio_p: Option<f64>,
    /// The sizes are off the shares beyond chance (p below 0.001): the arms are not what was declared.
    pub ratio_flagged: bool,
}

impl Engine {
    /// `select_sql` with the arm beside the key: `SELECT key, CASE … END AS arm FROM …`.
    pub fn select_sql_with_arms(&self, f: &Compiled, arms: &Arms) -> Result<String> {
        let key = ident(self.key());
        let arm = arms.arm_sql(&key).map_err(EngineError::Param)?;
        Ok(format!("SELECT {key}, {arm} AS arm FROM {} WHERE (\n{}\n)", self.table_sql(), f.sql))
    }

    /// Each arm's member count, in the order declared: what a dbt test per arm checks (no metrics,
    /// so no rollups are needed).
    pub fn arm_sizes(&self, f: &Compiled, arms: &Arms) -> Result<Vec<(String, u64)>> {
        let bounds = arms.bounds().map_err(EngineError::Param)?;
        let arm = arms.arm_sql(&ident(self.key())).map_err(EngineError::Param)?;
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT {arm}, count(*) FROM {} WHERE ", self.table_sql()));
        q.filter_cached(self, f)?;
        q.push(" GROUP BY 1");
        let rows: Vec<(Option<String>, i64)> =
            q.run(self, |s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())?;
        Ok(bounds
            .into_iter()
            .map(|(name, _, _)| {
                let n = rows.iter().find(|r| r.0.as_deref() == Some(name.as_str())).map_or(0, |r| r.1 as u64);
                (name, n)
            })
            .collect())
    }

    /// The arm of every member of `f`, counted, with the profile metrics per arm: one GROUP BY.
    pub fn arms(&self, f: &Compiled, arms: &Arms) -> Result<ArmReport> {
        let bounds = arms.bounds().map_err(EngineError::Param)?;
        let t = self.table_sql();
        let arm = arms.arm_sql(&format!("{t}.{}", ident(self.key()))).map_err(EngineError::Param)?;
        let metrics = self.metrics().to_vec();
        let mut cols = vec![format!("{arm}"), "count(*)".to_string()];
        cols.extend(metrics.iter().map(|m| format!("CAST(({}) AS DOUBLE)", m.sql)));
        let (before, after) = self.profile_from()?;
        let mut q = SqlBuilder::new();
        q.push(&format!("SELECT {} FROM {before}", cols.join(", ")));
        q.filter_cached(self, f)?;
        q.push(&format!("{after} GROUP BY 1"));
        let nm = metrics.len();
        let rows: Vec<(Option<String>, u64, Vec<Option<f64>>)> = q.run(self, |s| {
            s.query_map([], |r| {
                let m = (0..nm).map(|i| r.get::<_, Option<f64>>(2 + i)).collect::<duckdb::Result<Vec<_>>>()?;
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, m))
            })?
            .collect()
        })?;
        let size: u64 = rows.iter().map(|r| r.1).sum();
        // The whole segment's metrics, to compare each arm with the rest of it.
        let whole: Vec<Option<f64>> =
            if nm == 0 { Vec::new() } else { self.profile(f)?.metrics.iter().map(|m| m.segment).collect() };
        let mut out: Vec<ArmSize> = bounds
            .iter()
            .zip(&arms.arm)
            .map(|((name, _, _), a)| {
                let row = rows.iter().find(|r| r.0.as_deref() == Some(name.as_str()));
                let n = row.map_or(0, |r| r.1);
                let rest_n = size - n;
                let ms = metrics
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let value = row.and_then(|r| r.2[i]);
                        // The rest's mean from the whole's: (whole·N − arm·n) / (N − n), exact for
                        // averages over customers; rates are treated the same (a close reading).
                        let rest = match (whole.get(i).copied().flatten(), value) {
                            (Some(w), Some(v)) if rest_n > 0 => Some((w * size as f64 - v * n as f64) / rest_n as f64),
                            _ => None,
                        };
                        let p = match (d.format, value, rest) {
                            (MetricFormat::Percent, Some(v), Some(r))
                                if (0.0..=1.0).contains(&v) && (0.0..=1.0).contains(&r) =>
                            {
                                two_proportion_p(v, n, r, rest_n)
                            }
                            _ => None,
                        };
                        ArmMetric {
                            name: d.name.clone(),
                            format: d.format,
                            value,
                            rest,
                            p_value: p,
                            p_adjusted: None,
                            flagged: false,
                        }
                    })
                    .collect();
                ArmSize { name: name.clone(), share: a.share, size: n, expected: a.share * size as f64, metrics: ms }
            })
            .collect();
        let ps: Vec<Option<f64>> = out.iter().flat_map(|a| a.metrics.iter().map(|m| m.p_value)).collect();
        let mut adjusted = benjamini_hochberg(&ps).into_iter();
        for a in &mut out {
            for m in &mut a.metrics {
                m.p_adjusted = adjusted.next().flatten();
                m.flagged = m.p_adjusted.is_some_and(|p| p < 0.01);
            }
        }
        let ratio_p = ratio_p(&out);
        Ok(ArmReport {
            salt: arms.salt.clone(),
            hash: HASH,
            size,
            arms: out,
            ratio_p,
            ratio_flagged: ratio_p.is_some_and(|p| p < 0.001),
        })
    }
}

/// Chi-square goodness of fit of the arm sizes to the shares, its p by the Wilson–Hilferty
/// normal approximation (k - 1 degrees of freedom).
fn ratio_p(arms: &[ArmSize]) -> Option<f64> {
    if arms.iter().any(|a| a.expected < 5.0) {
        return None;
    }
    let x: f64 = arms.iter().map(|a| (a.size as f64 - a.expected).powi(2) / a.expected).sum();
    let k = (arms.len() - 1) as f64;
    let z = ((x / k).cbrt() - (1.0 - 2.0 / (9.0 * k))) / (2.0 / (9.0 * k)).sqrt();
    Some(1.0 - normal_cdf(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (salt, key) → bucket and arm under control = 0.1, treatment = 0.9, computed independently
    /// with Python's hashlib: `int(sha256(f"{salt}:{key}".encode()).hexdigest()[:8], 16) * 10000 >> 32`.
    /// A change of hashing fails this test.
    const TABLE: [(&str, &str, u32, &str); 12] = [
        ("holi26", "1", 579, "control"),
        ("holi26", "2", 3304, "treatment"),
        ("holi26", "42", 4283, "treatment"),
        ("holi26", "1000000", 5606, "treatment"),
        ("holi26", "S000001", 4016, "treatment"),
        ("holi26", "S001234", 8597, "treatment"),
        ("diwali-25", "1", 2753, "treatment"),
        ("diwali-25", "42", 5262, "treatment"),
        ("diwali-25", "S000001", 2432, "treatment"),
        ("", "7", 6079, "treatment"),
        ("holi26", "-5", 7096, "treatment"),
        ("salt with spaces", "é-ключ", 5174, "treatment"),
    ];

    #[test]
    fn buckets_and_arms_match_the_independent_table_in_rust_and_in_duckdb() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        for (salt, key, want, arm) in TABLE {
            assert_eq!(bucket(salt, key), want, "{salt:?} {key:?}");
            let arms = Arms {
                salt: salt.into(),
                arm: vec![Arm { name: "control".into(), share: 0.1 }, Arm { name: "treatment".into(), share: 0.9 }],
            };
            let lit = literal(key);
            let sql = format!("SELECT {}::BIGINT", arms.bucket_sql(&lit));
            let b: i64 = conn.query_row(&sql, [], |r| r.get(0)).unwrap();
            assert_eq!(b as u32, want, "DuckDB: {salt:?} {key:?}");
            // Arms need a salt; the bucket of an empty one is still specified.
            if !salt.is_empty() {
                assert_eq!(arms.arm_of(key).as_deref(), Some(arm));
                let a: String =
                    conn.query_row(&format!("SELECT {}", arms.arm_sql(&lit).unwrap()), [], |r| r.get(0)).unwrap();
                assert_eq!(a, arm, "DuckDB: {salt:?} {key:?}");
            }
        }
    }

    #[test]
    fn shares_are_checked() {
        assert!(Arms::parse("control=0.1,treatment=0.9", "s").is_ok());
        assert!(Arms::parse("control=0.1,treatment=0.8", "s").unwrap_err().contains("add up"));
        assert!(Arms::parse("control=0.00001,treatment=0.99999", "s").is_err());
        assert!(Arms::parse("control=1", "s").is_err());
        assert!(Arms::parse("a=0.5,a=0.5", "s").unwrap_err().contains("twice"));
        assert!(Arms::parse("a=0.5,b=0.5", "").unwrap_err().contains("salt"));
        let b = Arms::parse("a=0.2, b=0.3, c=0.5", "s").unwrap().bounds().unwrap();
        assert_eq!(b, vec![("a".into(), 0, 2000), ("b".into(), 2000, 5000), ("c".into(), 5000, 10000)]);
        // Written by hand past `parse`: the SQL is refused too, not emitted as an empty CASE.
        let hand = Arms {
            salt: "s".into(),
            arm: vec![Arm { name: "a".into(), share: 0.5 }, Arm { name: "b".into(), share: 0.6 }],
        };
        assert!(hand.arm_sql("k").unwrap_err().contains("add up to 1.1"));
    }
}
