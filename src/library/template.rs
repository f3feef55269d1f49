use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Feature, Fingerprint, ParamDecl};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Draft,
    Approved,
    Retired,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Approved => "approved",
            Status::Retired => "retired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Segment,
    /// Removes its members from every exported segment.
    Suppression,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Segment => "segment",
            Kind::Suppression => "suppression",
        }
    }
}

/// The parent a split cell was saved from (`Template::child`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitOf {
    pub name: String,
    pub version: u32,
    /// The cell, as its values read: `North × hi`.
    pub cell: String,
    /// The cell as a filter of its columns and exact values (`split::cell_filter`): what tells
    /// two cells apart where their labels and names may not (`North` and `north`, NULL and
    /// `'(null)'`, the same value of two columns). Empty in files written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cell_filter: String,
}

impl SplitOf {
    /// The same cell of the same parent (any version of it): a later split may version it.
    pub fn same_cell(&self, other: &SplitOf) -> bool {
        self.name == other.name && !self.cell_filter.is_empty() && self.cell_filter == other.cell_filter
    }
}

/// What was measured when a version was saved, and on which data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub size: u64,
    pub base: u64,
    pub share: f64,
    pub measured_at: String,
    pub fingerprint: Fingerprint,
    /// Profile metrics by name (missing when the value was NULL).
    #[serde(default)]
    pub profile: BTreeMap<String, f64>,
}

/// One version of a segment definition: the content of `<name>/vNNNN.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_version: Option<u32>,
    pub created_at: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub intent: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub table: String,
    #[serde(default)]
    pub key: String,
    pub filter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, ParamDecl>,
    /// The features the filter used, as they were at save time (a later edit shows up as drift).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "named_features")]
    pub features: BTreeMap<String, Feature>,
    /// Holdouts and A/B groups: a salt and named shares (engine/query/arms.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arms: Option<crate::engine::query::arms::Arms>,
    /// A cell of a split saved as a segment of its own: the parent version it was cut from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_of: Option<SplitOf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    /// SHA-256 of what was approved (`content_hash`), written when the version is approved. Export
    /// refuses an approved version without it or whose content no longer matches it: an approved
    /// file edited by hand, or one written by hand with `status = "approved"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_sha256: Option<String>,
}

/// A feature's name is its key in the file (`[features.lapsed]`, not stored in the table itself):
/// filled in on reading, so a template read back equals the one saved and an unchanged re-save is
/// recognised as unchanged.
fn named_features<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Feature>, D::Error> {
    let mut map = BTreeMap::<String, Feature>::deserialize(d)?;
    for (name, f) in &mut map {
        f.name = name.clone();
    }
    Ok(map)
}

impl Template {
    pub fn new(name: &str, filter: &str) -> Template {
        Template {
            name: name.to_string(),
            version: 0,
            parent_version: None,
            created_at: String::new(),
            author: String::new(),
            intent: String::new(),
            owner: String::new(),
            tags: Vec::new(),
            status: Status::Draft,
            kind: Kind::Segment,
            priority: 100,
            table: String::new(),
            key: String::new(),
            filter: filter.to_string(),
            note: None,
            params: BTreeMap::new(),
            features: BTreeMap::new(),
            arms: None,
            split_of: None,
            snapshot: None,
            approval_sha256: None,
        }
    }

    /// A cell of this version's split as a child segment: the parent's filter AND the cell's
    /// values, the parent's parameters, and a record of the parent version it was cut from.
    /// `values` are the cell's, in the order of `by` (None: NULL); the name is the parent's with
    /// each column and its value as words (`repeat-buyers-region-north-language-hi`). Words lose
    /// case and punctuation, so two cells of one split can share that name: `children` tells
    /// them apart.
    pub fn child(&self, by: &[String], values: &[Option<String>]) -> Template {
        let label = crate::engine::query::split::cell_label(values);
        let cell_filter = crate::engine::query::split::cell_filter(by, values);
        let words: Vec<String> = by
            .iter()
            .zip(values)
            .flat_map(|(column, v)| [column.as_str(), v.as_deref().unwrap_or("null")])
            .flat_map(|s| s.split(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let name =
            std::iter::once(self.name.as_str()).chain(words.iter().map(String::as_str)).collect::<Vec<_>>().join("-");
        // Past the longest name the library takes: cut, and made distinct by its exact values.
        let name = if name.len() > MAX_NAME { with_hash(&name, &cell_filter) } else { name };
        let mut t = Template::new(&name, &format!("({}\n) AND {cell_filter}", self.filter.trim_end()));
        t.intent = if self.intent.is_empty() { label.clone() } else { format!("{} — {label}", self.intent) };
        t.owner = self.owner.clone();
        t.tags = self
            .tags
            .iter()
            .cloned()
            .chain((!self.tags.iter().any(|g| g == "split")).then(|| "split".into()))
            .collect();
        t.priority = self.priority;
        t.table = self.table.clone();
        t.key = self.key.clone();
        t.params = self.params.clone();
        t.arms = self.arms.clone();
        t.split_of = Some(SplitOf { name: self.name.clone(), version: self.version, cell: label, cell_filter });
        t
    }

    /// Every cell of a split (`cells`: values in the order of `by`) as a child, in the same
    /// order, each under a name of its own: cells whose words read alike (`North`, `north`)
    /// take a short hash of their exact values after the words. The names depend on the cells
    /// of the split, not on which of them are saved. Err names two cells that still share a
    /// name (a hash collision, or a value that reads like another cell's hashed name).
    pub fn children(&self, by: &[String], cells: &[Vec<Option<String>>]) -> Result<Vec<Template>, String> {
        let mut out: Vec<Template> = cells.iter().map(|v| self.child(by, v)).collect();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for t in &out {
            *seen.entry(t.name.clone()).or_default() += 1;
        }
        for t in &mut out {
            if seen[&t.name] > 1
                && let Some(cell) = &t.split_of
            {
                t.name = with_hash(&t.name, &cell.cell_filter);
            }
        }
        let mut taken: BTreeMap<&str, &Template> = BTreeMap::new();
        for t in &out {
            if let Some(other) = taken.insert(&t.name, t) {
                let cell = |t: &Template| t.split_of.as_ref().map_or(String::new(), |s| s.cell.clone());
                return Err(format!(
                    "the cells {:?} and {:?} of {} by {} would both be saved as {}: nothing was saved",
                    cell(other),
                    cell(t),
                    self.name,
                    by.join(", "),
                    t.name
                ));
            }
        }
        Ok(out)
    }

    /// Ok when `child`, a split cell, may be saved as the next version of this segment (the
    /// latest version of its name): only when this is the same cell of the same parent, or the
    /// same record changed (an approval). Anything else would make the cell a newer version of
    /// another cell, or of a segment of the user's.
    pub fn takes_cell(&self, child: &Template) -> Result<(), String> {
        let (Some(new), mine) = (&child.split_of, &self.split_of) else { return Ok(()) };
        // The same record (an approval of the cell, an edit of it) or the same cell split again.
        if mine.as_ref().is_some_and(|m| m == new || m.same_cell(new)) {
            return Ok(());
        }
        let what = match mine {
            Some(m) if m.cell_filter.is_empty() => format!("a cell of {} saved by an older seglens", m.name),
            Some(m) => format!("the cell {:?} of {}, where {}", m.cell, m.name, m.cell_filter),
            None => "not a cell of a split".to_string(),
        };
        Err(format!(
            "segment {:?} already exists ({what}), so the cell {:?} of {} is not saved over it: \
             rename or remove that segment first",
            self.name, new.cell, new.name
        ))
    }

    /// SHA-256 (hex) of what an approval covers: the filter, the parameter declarations, the
    /// bodies of the features recorded for it (those its filter expands to), its kind and its
    /// priority (what decides who is exported, and where). Serialized as JSON with sorted maps, so
    /// the hash is the same for the same content however the TOML file is laid out.
    pub fn content_hash(&self) -> String {
        use sha2::Digest;
        #[derive(Serialize)]
        struct Approved<'a> {
            filter: &'a str,
            params: &'a BTreeMap<String, ParamDecl>,
            features: BTreeMap<&'a str, (&'a Vec<String>, &'a str)>,
            kind: Kind,
            priority: i64,
            /// Only when declared, so versions without arms keep the hash they were approved with.
            #[serde(skip_serializing_if = "Option::is_none")]
            arms: Option<&'a crate::engine::query::arms::Arms>,
        }
        let content = Approved {
            filter: self.filter.trim_end(),
            params: &self.params,
            features: self.features.iter().map(|(n, f)| (n.as_str(), (&f.params, f.sql.as_str()))).collect(),
            kind: self.kind,
            priority: self.priority,
            arms: self.arms.as_ref(),
        };
        // Serializing plain strings, numbers and maps to JSON cannot fail (a NaN becomes null).
        let text = serde_json::to_string(&content).unwrap_or_default();
        sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Ok for a version that is not approved, or approved with a hash matching its content; else
    /// why not (the caller names the file).
    pub fn verify_approval(&self) -> Result<(), String> {
        if self.status != Status::Approved {
            return Ok(());
        }
        let again = format!("check it, then approve it again with: seglens approve {}", self.reference());
        match &self.approval_sha256 {
            None => Err(format!("says approved but carries no approval hash (written by hand?); {again}")),
            Some(h) if *h != self.content_hash() => Err(format!(
                "was changed after it was approved (its content no longer matches the approval hash); {again}"
            )),
            Some(_) => Ok(()),
        }
    }

    /// Same definition: everything but version bookkeeping, note and the measured snapshot.
    pub fn same_definition(&self, other: &Template) -> bool {
        self.filter.trim_end() == other.filter.trim_end()
            && self.params == other.params
            && self.intent == other.intent
            && self.owner == other.owner
            && self.tags == other.tags
            && self.status == other.status
            && self.kind == other.kind
            && self.priority == other.priority
            && self.table == other.table
            && self.key == other.key
            && self.features == other.features
            && self.arms == other.arms
            && self.split_of == other.split_of
    }

    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// The longest segment name (`is_slug`).
pub const MAX_NAME: usize = 80;

/// `name` made distinct by 8 hex digits of the SHA-256 of `exact` (cut to fit `MAX_NAME`).
fn with_hash(name: &str, exact: &str) -> String {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(exact.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
    // Names are ASCII (lowercase words), so any byte is a character boundary.
    let head = name[..name.len().min(MAX_NAME - hash.len() - 1)].trim_end_matches('-');
    format!("{head}-{hash}")
}

/// `NAME` or `NAME@VERSION` (`NAME@v3` also accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub name: String,
    pub version: Option<u32>,
}

impl TemplateRef {
    pub fn parse(s: &str) -> Option<TemplateRef> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v.trim_start_matches(['v', 'V']).parse().ok()?)),
            None => (s, None),
        };
        is_slug(name).then(|| TemplateRef { name: name.to_string(), version })
    }
}

pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
}
