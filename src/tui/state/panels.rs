//! The state of each panel and view: the editor, parameters, preview, side panel, the full-screen
//! views (overlap, funnel, movement, split) and the QA reports.

use std::collections::BTreeMap;

use ratatui_textarea::TextArea;

use crate::engine::query::breakdown::Breakdown;
use crate::engine::query::members::RowSet;
use crate::engine::query::overlap::Overlap;
use crate::engine::query::profile::{Profile, Unsegmentable};
use crate::engine::query::schema::Schema;
use crate::engine::query::size::Size;
use crate::engine::{FeatureSet, FilterError, ParamDecl, ParamValue};
use crate::library::Template;

/// A QA report computed on a connection of its own (hygiene, compare): the text the CLI prints.
#[derive(Debug, Clone, Default)]
/// (Whether it is being measured is the job book's to say: `AppState::measuring`.)
pub struct ReportState {
    /// What was compared (compare), or the table (hygiene).
    pub subject: String,
    pub text: Option<Result<String, String>>,
    pub scroll: u16,
}

#[derive(Debug, Clone)]
pub struct Completion {
    /// The word being completed and where it starts on the cursor's line (in chars).
    pub prefix: String,
    pub start_col: usize,
    pub candidates: Vec<String>,
    pub selected: usize,
}

pub struct EditorState {
    pub textarea: TextArea<'static>,
    /// The filter's error (from seglens or DuckDB), shown under the editor.
    pub error: Option<FilterError>,
    pub completion: Option<Completion>,
}

impl EditorState {
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamItem {
    pub name: String,
    pub decl: ParamDecl,
    /// The value in use; None until one is known (undeclared and not typed yet).
    pub value: Option<ParamValue>,
    /// Declared by the template (or here); an undeclared placeholder's type is a guess.
    pub declared: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ParamsState {
    pub items: Vec<ParamItem>,
    pub selected: usize,
    /// Text being typed as the selected parameter's value.
    pub input: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PreviewState {
    pub size: Option<Size>,
    pub profile: Option<Profile>,
    pub breakdown: Option<Breakdown>,
    pub unsegmentable: Option<Unsegmentable>,
    pub rows: Option<RowSet>,
    /// The figures are from an older filter (the current one is invalid or still running).
    pub stale: bool,
    /// Time the worker took for the size, and for the whole preview.
    pub size_ms: Option<u128>,
    pub total_ms: Option<u128>,
    pub dimensions: Vec<String>,
    pub dimension: usize,
    pub members_offset: usize,
    /// Columns shown in the members table (a default pick when empty).
    pub columns: Vec<String>,
    /// The related tables' rollups, as last heard (None: nothing heard yet).
    pub rollups: Option<crate::engine::query::rollup::RollupStatus>,
}

impl PreviewState {
    /// The profile is missing because the rollups are still being built.
    pub fn waits_for_rollups(&self) -> bool {
        self.profile.is_none()
            && matches!(
                self.rollups,
                Some(
                    crate::engine::query::rollup::RollupStatus::Building { .. }
                        | crate::engine::query::rollup::RollupStatus::NotBuilt
                )
            )
    }

    pub fn dimension_name(&self) -> Option<&str> {
        self.dimensions.get(self.dimension).map(String::as_str)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SchemaState {
    pub schema: Option<Schema>,
    pub selected: usize,
}

#[derive(Debug, Clone, Default)]
pub struct LibraryState {
    pub dir: String,
    pub templates: Vec<Template>,
    pub errors: Vec<String>,
    pub features: FeatureSet,
    pub feature_error: Option<String>,
    pub selected: usize,
    pub feature_selected: usize,
    /// Typed text narrowing the list.
    pub query: String,
    pub typing: bool,
    /// Names in the overlap working set, in priority order.
    pub working: Vec<String>,
    pub history: Option<(String, Vec<Template>)>,
    /// Current size per segment, measured by the overlap (for drift beside size at save).
    pub size_now: BTreeMap<String, u64>,
    /// Segments written for other data, and what this data lacks for them (e.g. "column x").
    pub not_for_data: BTreeMap<String, String>,
    /// `size_now` is being measured again (the library changed), by measurement `measure_id`.
    pub measuring: bool,
    pub measure_id: u64,
}

impl LibraryState {
    /// Takes in a library measurement: sizes, and the segments that are not for this data.
    pub fn set_fits(&mut self, fits: &BTreeMap<String, crate::library::measure::Fit>) {
        use crate::library::measure::Fit;
        self.size_now =
            fits.iter().filter_map(|(n, f)| if let Fit::Size(s) = f { Some((n.clone(), *s)) } else { None }).collect();
        self.not_for_data = fits
            .iter()
            .filter_map(|(n, f)| if let Fit::NotForThisData(m) = f { Some((n.clone(), m.clone())) } else { None })
            .collect();
    }

    /// The templates matching the typed query, in list order.
    pub fn visible(&self) -> Vec<&Template> {
        let q = self.query.to_ascii_lowercase();
        self.templates
            .iter()
            .filter(|t| {
                q.is_empty()
                    || t.name.contains(&q)
                    || t.intent.to_ascii_lowercase().contains(&q)
                    || t.tags.iter().any(|g| g.contains(&q))
            })
            .collect()
    }

    pub fn selected_template(&self) -> Option<&Template> {
        self.visible().get(self.selected).copied()
    }
}

#[derive(Debug, Clone, Default)]
pub struct OverlapState {
    pub result: Option<Overlap>,
    /// The preview generation `result` was measured for: older means it shows an earlier working
    /// set or edit.
    pub generation: u64,
    pub jaccard: bool,
    pub selected: usize,
}

/// The funnel view: the funnel as measured, and the clauses switched off for a what-if (its
/// figures are recounted from the measured outcomes, never queried again).
#[derive(Debug, Clone, Default)]
pub struct FunnelState {
    /// As measured, every clause on.
    pub measured: Option<crate::engine::query::funnel::Funnel>,
    /// `measured` with the clauses in `enabled` only: what the view shows.
    pub shown: Option<crate::engine::query::funnel::Funnel>,
    pub enabled: Vec<bool>,
    pub selected: usize,
    /// The preview generation it was measured for.
    pub generation: u64,
}

impl FunnelState {
    /// Takes a new measurement; switches stay off for clauses whose text is unchanged.
    pub fn set(&mut self, f: crate::engine::query::funnel::Funnel, generation: u64) {
        let old: Vec<(String, bool)> = self
            .measured
            .as_ref()
            .map(|m| m.clauses.iter().map(|c| c.text.clone()).zip(self.enabled.iter().copied()).collect())
            .unwrap_or_default();
        self.enabled =
            f.clauses.iter().map(|c| old.iter().find(|(t, _)| *t == c.text).is_none_or(|(_, on)| *on)).collect();
        self.selected = self.selected.min(f.clauses.len().saturating_sub(1));
        self.shown = Some(f.with_enabled(&self.enabled));
        self.measured = Some(f);
        self.generation = generation;
    }

    /// Switches the selected clause off or on and recounts.
    pub fn toggle(&mut self) {
        if let (Some(m), Some(on)) = (&self.measured, self.enabled.get_mut(self.selected)) {
            *on = !*on;
            self.shown = Some(m.with_enabled(&self.enabled));
        }
    }
}

/// The movement view: from an earlier export of this library to now, computed on a connection
/// of its own.
#[derive(Debug, Clone, Default)]
pub struct MovementState {
    /// This library's exports still in place, newest first (read when the view opens).
    pub exports: Vec<crate::export::over_time::LoggedExport>,
    /// The export moved from: an index into `exports`.
    pub chosen: usize,
    pub result: Option<Result<crate::engine::movement::Movement, String>>,
}

impl MovementState {
    /// The export moved from, as it reads in a title: `holi.manifest.json of 2026-11-20 12:00`.
    pub fn subject(&self) -> String {
        match self.exports.get(self.chosen) {
            Some(e) => {
                let file = e.manifest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{file} of {}", e.created_at.get(..16).unwrap_or(&e.created_at).replace('T', " "))
            }
            None => "the latest export".into(),
        }
    }
}

/// The split view: the edited segment by one or more dimensions, measured with the preview.
#[derive(Debug, Clone, Default)]
pub struct SplitState {
    /// The dimensions, in order (the breakdown's when the view opens).
    pub by: Vec<String>,
    pub measured: Option<crate::engine::query::split::Split>,
    /// The preview generation it was measured for.
    pub generation: u64,
    pub selected: usize,
    /// Cells marked to save or export, by their values in the order of `by`.
    pub marked: Vec<Vec<Option<String>>>,
}

impl SplitState {
    /// Every cell's values, largest cell first.
    pub fn cells(&self) -> Vec<Vec<Option<String>>> {
        self.measured.as_ref().map_or(Vec::new(), |m| m.cells.iter().map(|c| c.values_in(&m.by)).collect())
    }

    /// The marked cells still in the split.
    pub fn marked_cells(&self) -> Vec<Vec<Option<String>>> {
        self.cells().into_iter().filter(|v| self.marked.contains(v)).collect()
    }

    /// The marked cells, else the selected one: what s saves.
    pub fn chosen(&self) -> Vec<Vec<Option<String>>> {
        let marked = self.marked_cells();
        if marked.is_empty() { self.cells().into_iter().nth(self.selected).into_iter().collect() } else { marked }
    }
}

/// Cells of a split to export: the dimensions, and each cell's values in their order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    pub by: Vec<String>,
    pub values: Vec<Vec<Option<String>>>,
}
