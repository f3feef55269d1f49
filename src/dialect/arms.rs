//! Arms on another engine: the arm column of `seglens sql --dialect`, of the dbt models and of
//! `seglens arms --dialect`, written with the engine's own SHA-256 so that every engine puts every
//! customer in the arm seglens does (`engine::arms` specifies it):
//!
//! - the text hashed is `salt || ':' || key`, the key as seglens casts it (integers in decimal,
//!   text as is), hashed as UTF-8 (Spark and Trino strings are UTF-8; PostgreSQL converts with
//!   `convert_to(.., 'UTF8')` whatever the database encoding; BigQuery and Snowflake hash a
//!   STRING/VARCHAR's UTF-8 bytes);
//! - `n`, the first 4 bytes as an unsigned big-endian integer, is read from the first 8 hex digits
//!   into a 64-bit integer (or Snowflake's NUMBER(38,0)), never a 32-bit one, so it is never
//!   negative;
//! - `bucket = (n * 10000) >> 32` in 64-bit integers: at most 2^32 * 10^4 < 2^46, no overflow, and
//!   a shift (or integer division of a non-negative number) where `/` would be floating (Spark) or
//!   decimal and rounded (Snowflake).
//!
//! Spark and PostgreSQL are run in `tests/dialects.rs` (every customer's arm compared); Trino,
//! BigQuery and Snowflake are written by the same rules from their documentation.

use super::{Dialect, Target, Ty, Untranslatable};
use crate::engine::query::arms::{Arms, BUCKETS};

type R<T> = Result<T, Untranslatable>;

impl Target<'_> {
    /// `SELECT key, CASE … END AS arm FROM table WHERE filter` in the target dialect.
    pub fn select_with_arms(&self, filter: &str, arms: &Arms) -> R<String> {
        let key = self.dialect.ident(self.key_name());
        self.select_list(filter, &format!("{key}, {} AS arm", self.arm_sql(arms, &key)?))
    }

    /// The arm name of the key `key_sql`: a CASE over its bucket.
    pub fn arm_sql(&self, arms: &Arms, key_sql: &str) -> R<String> {
        let d = self.dialect;
        let case = if d == Dialect::DuckDb {
            arms.arm_sql(key_sql)
        } else {
            arms.arm_case(&bucket_of_text(d, arms, &self.key_text(key_sql)?))
        };
        case.map_err(|why| Untranslatable { dialect: d, construct: "the arms".into(), why })
    }

    /// A statement a user runs on the warehouse to check its hash: the bucket of the key `key`
    /// (its text, as seglens hashes it) under the arms' salt, which must equal `arms::bucket`.
    pub fn bucket_check(&self, arms: &Arms, key: &str) -> String {
        let d = self.dialect;
        format!("SELECT {} AS bucket", bucket_of_text(d, arms, &d.string(key)))
    }

    /// The key as the text seglens hashes (`CAST(key AS VARCHAR)` in DuckDB): integers in decimal
    /// and text as is are the same on every engine; other types (decimals, dates, UUIDs) print
    /// differently from engine to engine and are refused.
    fn key_text(&self, key_sql: &str) -> R<String> {
        let d = self.dialect;
        match self.catalog.column(self.table_name(), self.key).map(|(_, ty)| ty) {
            Some(Ty::Text) => Ok(key_sql.to_string()),
            Some(Ty::Int) => Ok(format!("CAST({key_sql} AS {})", text_type(d))),
            _ => Err(Untranslatable {
                dialect: d,
                construct: format!("arms on the key {}", self.key),
                why: "the key is neither an integer nor text, and the text of other types, which is hashed, differs between engines"
                    .into(),
            }),
        }
    }
}

fn text_type(d: Dialect) -> &'static str {
    match d {
        Dialect::Spark | Dialect::BigQuery => "STRING",
        Dialect::Postgres => "TEXT",
        Dialect::DuckDb | Dialect::Trino | Dialect::Snowflake => "VARCHAR",
    }
}

/// The bucket (0 to 9999) of the arms' `salt:` followed by `text_sql` (a text expression) on `d`.
fn bucket_of_text(d: Dialect, arms: &Arms, text_sql: &str) -> String {
    let t = format!("{} || {text_sql}", d.string(&format!("{}:", arms.salt)));
    let b = BUCKETS;
    match d {
        // sha2 gives lower-case hex; conv gives the unsigned value as decimal text.
        Dialect::Spark => format!("shiftright(CAST(conv(substr(sha2({t}, 256), 1, 8), 16, 10) AS BIGINT) * {b}, 32)"),
        // bit(32) to bigint takes the 32 bits as an unsigned value (bit(32) to integer would not).
        Dialect::Postgres => {
            format!(
                "((('x' || substr(encode(sha256(convert_to({t}, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint * {b}) >> 32)"
            )
        }
        // to_hex gives upper-case hex, which from_base reads; bigint / bigint is integer division.
        Dialect::Trino => format!("((from_base(substr(to_hex(sha256(to_utf8({t}))), 1, 8), 16) * {b}) / 4294967296)"),
        // A '0x' hex string casts to INT64.
        Dialect::BigQuery => format!("((CAST(CONCAT('0x', SUBSTR(TO_HEX(SHA256({t})), 1, 8)) AS INT64) * {b}) >> 32)"),
        // SHA2 gives lower-case hex; the format model's X digits are read upper-case.
        Dialect::Snowflake => {
            format!("BITSHIFTRIGHT(TO_NUMBER(UPPER(SUBSTR(SHA2({t}, 256), 1, 8)), 'XXXXXXXX') * {b}, 32)")
        }
        Dialect::DuckDb => arms.bucket_sql(text_sql),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::super::Catalog;
    use super::*;
    use crate::engine::query::arms::Arm;

    fn catalog() -> Catalog {
        let cols = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        Catalog::new(vec![
            ("Club Members".into(), cols(&[("member_id", "BIGINT"), ("tier", "VARCHAR")])),
            ("shoppers".into(), cols(&[("shopper_ref", "VARCHAR"), ("total_spent", "DECIMAL(12,2)")])),
            ("visits".into(), cols(&[("visit_day", "DATE")])),
        ])
    }

    fn arms(salt: &str) -> Arms {
        Arms {
            salt: salt.into(),
            arm: vec![Arm { name: "control".into(), share: 0.1 }, Arm { name: "treatment".into(), share: 0.9 }],
        }
    }

    fn target<'a>(d: Dialect, c: &'a Catalog, table: &'a str, key: &'a str) -> Target<'a> {
        Target { dialect: d, as_of: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), catalog: c, table, key }
    }

    /// The arm column's exact text on each engine, for an integer key and a salt with a quote:
    /// Spark and PostgreSQL are also run (tests/dialects.rs); these three are checked by reading.
    #[test]
    fn the_arm_column_is_written_with_each_engines_sha256() {
        let c = catalog();
        let a = arms("o'neil");
        let sql =
            |d: Dialect| target(d, &c, "Club Members", "member_id").select_with_arms("tier = 'Gold'", &a).unwrap();
        let bucket = |d: Dialect, key: &str| bucket_of_text(d, &a, key);
        assert_eq!(
            bucket(Dialect::Trino, "CAST(\"member_id\" AS VARCHAR)"),
            "((from_base(substr(to_hex(sha256(to_utf8('o''neil:' || CAST(\"member_id\" AS VARCHAR)))), 1, 8), 16) * 10000) / 4294967296)"
        );
        assert_eq!(
            bucket(Dialect::BigQuery, "CAST(`member_id` AS STRING)"),
            "((CAST(CONCAT('0x', SUBSTR(TO_HEX(SHA256('o\\'neil:' || CAST(`member_id` AS STRING))), 1, 8)) AS INT64) * 10000) >> 32)"
        );
        assert_eq!(
            bucket(Dialect::Snowflake, "CAST(member_id AS VARCHAR)"),
            "BITSHIFTRIGHT(TO_NUMBER(UPPER(SUBSTR(SHA2('o''neil:' || CAST(member_id AS VARCHAR), 256), 1, 8)), 'XXXXXXXX') * 10000, 32)"
        );
        for (d, b) in [
            (Dialect::Trino, bucket(Dialect::Trino, "CAST(\"member_id\" AS VARCHAR)")),
            (Dialect::BigQuery, bucket(Dialect::BigQuery, "CAST(`member_id` AS STRING)")),
            (Dialect::Snowflake, bucket(Dialect::Snowflake, "CAST(member_id AS VARCHAR)")),
            (Dialect::Spark, bucket(Dialect::Spark, "CAST(`member_id` AS STRING)")),
            (Dialect::Postgres, bucket(Dialect::Postgres, "CAST(\"member_id\" AS TEXT)")),
        ] {
            let (key, table, tier) = match d {
                Dialect::BigQuery | Dialect::Spark => ("`member_id`", "`Club Members`", "`tier`"),
                Dialect::Snowflake => ("member_id", "\"Club Members\"", "tier"),
                _ => ("\"member_id\"", "\"Club Members\"", "\"tier\""),
            };
            assert_eq!(
                sql(d),
                format!(
                    "SELECT {key}, CASE WHEN {b} < 1000 THEN 'control' WHEN {b} < 10000 THEN 'treatment' END AS arm FROM {table} WHERE (\n({tier} = 'Gold')\n)"
                ),
                "{d}"
            );
        }
        // A text key is hashed as it is, on every engine.
        let t = target(Dialect::Trino, &c, "shoppers", "shopper_ref").select_with_arms("TRUE", &a).unwrap();
        assert!(t.contains("sha256(to_utf8('o''neil:' || \"shopper_ref\"))"), "{t}");
        // DuckDB's own form is the engine's, which arms::tests checks against Python's hashlib.
        let duck = target(Dialect::DuckDb, &c, "shoppers", "shopper_ref").arm_sql(&a, "k").unwrap();
        assert_eq!(duck, a.arm_sql("k").unwrap());
    }

    #[test]
    fn keys_whose_text_differs_between_engines_are_refused() {
        let c = catalog();
        let a = arms("s");
        for d in [Dialect::Spark, Dialect::Postgres, Dialect::Snowflake] {
            let e = target(d, &c, "visits", "visit_day").select_with_arms("TRUE", &a).unwrap_err();
            assert!(e.to_string().contains("arms on the key visit_day"), "{e}");
            let e = target(d, &c, "shoppers", "total_spent").select_with_arms("TRUE", &a).unwrap_err();
            assert!(e.to_string().contains("neither an integer nor text"), "{e}");
        }
        let hand = Arms {
            salt: "s".into(),
            arm: vec![Arm { name: "a".into(), share: 0.5 }, Arm { name: "b".into(), share: 0.6 }],
        };
        let e = target(Dialect::Spark, &c, "shoppers", "shopper_ref").select_with_arms("TRUE", &hand).unwrap_err();
        assert!(e.to_string().contains("add up to 1.1"), "{e}");
    }

    #[test]
    fn the_check_hashes_the_keys_text() {
        let c = catalog();
        let a = arms("holi26");
        let t = target(Dialect::Postgres, &c, "Club Members", "member_id");
        assert_eq!(
            t.bucket_check(&a, "42"),
            "SELECT ((('x' || substr(encode(sha256(convert_to('holi26:' || '42', 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint * 10000) >> 32) AS bucket"
        );
        // DuckDB runs its check: the bucket arms::tests::TABLE gives for ("holi26", "42").
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let sql = target(Dialect::DuckDb, &c, "Club Members", "member_id").bucket_check(&a, "42");
        let b: i64 = conn.query_row(&format!("SELECT bucket::BIGINT FROM ({sql})"), [], |r| r.get(0)).unwrap();
        assert_eq!(b, 4283);
        assert_eq!(crate::engine::query::arms::bucket("holi26", "42"), 4283);
    }
}
