//! Human-readable output: aligned tables and number formats. JSON output uses serde directly.

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn percent(share: f64) -> String {
    if share > 0.0 && share < 0.001 { format!("{:.3}%", share * 100.0) } else { format!("{:.1}%", share * 100.0) }
}

pub fn metric(v: Option<f64>, format: crate::engine::query::profile::MetricFormat) -> String {
    use crate::engine::query::profile::MetricFormat::*;
    match v {
        None => "—".to_string(),
        Some(v) => match format {
            Percent => percent(v),
            Money => {
                let whole = v.round();
                if whole.abs() < 1e15 { count(whole.abs() as u64).to_string() } else { format!("{v:.0}") }
            }
            Days => format!("{v:.0} d"),
            Number => format!("{v:.2}"),
        },
    }
}

/// An aligned text table: numbers (cells that parse as figures) right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let n = headers.len();
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let numeric = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit() || ",.%-+x —d".contains(c))
            && s.chars().any(|c| c.is_ascii_digit())
    };
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = width[i].saturating_sub(c.chars().count());
                if numeric(c) { format!("{}{c}", " ".repeat(pad)) } else { format!("{c}{}", " ".repeat(pad)) }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    line(width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_have_separators() {
        assert_eq!(super::count(1234567), "1,234,567");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(1000), "1,000");
    }
}
