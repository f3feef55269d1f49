//! `AppState`: everything the screen shows, and nothing that does I/O. `update` changes it;
//! rendering only reads it (apart from the widget scroll state ratatui needs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ratatui_textarea::TextArea;

use crate::engine::breakdown::Breakdown;
use crate::engine::members::RowSet;
use crate::engine::overlap::Overlap;
use crate::engine::profile::{Profile, Unsegmentable};
use crate::engine::schema::Schema;
use crate::engine::size::DEFAULT_SMALL_SHARE;
use crate::engine::size::Size;
use crate::engine::{Column, Compiled, FeatureSet, FilterError, ParamDecl, ParamValue};
use crate::library::Template;
use crate::tui::keymap::Mode;

/// The idle pause after an edit before the preview query is sent.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// Below this the screen says "terminal too small".
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Editor,
    Params,
    Side,
    Members,
}

impl Focus {
    pub const ORDER: [Focus; 4] = [Focus::Editor, Focus::Params, Focus::Side, Focus::Members];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideTab {
    Schema,
    Library,
    Features,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Explore,
    Overlap,
    /// What each top-level clause of the edited filter does (issue 16).
    Funnel,
    /// The data hygiene report of the database (issue 16).
    Hygiene,
    /// The edited filter against a library segment and the base (issue 16).
    Compare,
    /// Where the customers of an earlier export are now (issue 17).
    Movement,
    /// The edited segment split by dimensions: cells to save as segments or export (issue 17).
    Split,
}

/// A QA report computed on a connection of its own (hygiene, compare): the text the CLI prints.
#[derive(Debug, Clone, Default)]
pub struct ReportState {
    pub running: bool,
    /// What was compared (compare), or the table (hygiene).
    pub subject: String,
    pub text: Option<Result<String, String>>,
    pub scroll: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerState {
    Idle,
    Running { generation: u64, since: Instant },
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
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
    pub rollups: Option<crate::engine::rollup::RollupStatus>,
}

impl PreviewState {
    /// The profile is missing because the rollups are still being built.
    pub fn waits_for_rollups(&self) -> bool {
        self.profile.is_none()
            && matches!(
                self.rollups,
                Some(
                    crate::engine::rollup::RollupStatus::Building { .. }
                        | crate::engine::rollup::RollupStatus::NotBuilt
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
    pub measured: Option<crate::engine::funnel::Funnel>,
    /// `measured` with the clauses in `enabled` only: what the view shows.
    pub shown: Option<crate::engine::funnel::Funnel>,
    pub enabled: Vec<bool>,
    pub selected: usize,
    /// The preview generation it was measured for.
    pub generation: u64,
}

impl FunnelState {
    /// Takes a new measurement; switches stay off for clauses whose text is unchanged.
    pub fn set(&mut self, f: crate::engine::funnel::Funnel, generation: u64) {
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
    pub running: bool,
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
    pub measured: Option<crate::engine::split::Split>,
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

/// The segment being edited: where it came from, to know about unsaved changes.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The template version it was opened from (None for a new filter).
    pub origin: Option<Template>,
    /// Name to save under (a new segment gets one in the save dialog).
    pub name: Option<String>,
    /// Filter text and param values as last saved or opened.
    pub saved_text: String,
    pub saved_params: BTreeMap<String, ParamDecl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamePurpose {
    /// Start an empty filter under a new name.
    New,
    /// Copy the current definition under a new name.
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

#[derive(Debug, Clone)]
pub enum Dialog {
    Save {
        fields: Vec<Field>,
        focused: usize,
        error: Option<String>,
    },
    Export {
        fields: Vec<Field>,
        focused: usize,
        exclusive: bool,
        suppress: bool,
        progress: Option<(String, u64, u64)>,
        result: Option<Result<String, String>>,
        /// Per segment, who joined and left since its last export (None: being measured).
        changes: Option<Result<Vec<String>, String>>,
        /// The cells of a split of the one segment, exported to one file with a cell column.
        cells: Option<Cells>,
    },
    Name {
        purpose: NamePurpose,
        input: String,
        error: Option<String>,
    },
    ConfirmQuit,
    /// The history of `state.library.history`, with a cursor of its own.
    History {
        selected: usize,
    },
    Diff {
        name: String,
        text: String,
    },
    Message {
        title: String,
        text: String,
    },
}

pub struct AppState {
    pub db_label: String,
    /// The open data, to tell templates written for it from those written elsewhere.
    pub data: Option<crate::engine::Fingerprint>,
    pub table: String,
    pub key: String,
    pub base: u64,
    pub columns: Vec<Column>,
    pub view: View,
    pub focus: Focus,
    pub side: SideTab,
    /// Recorded on saves, approvals and retirements (`library::author()` at start).
    pub author: String,
    /// Segments under this share of the base are marked small (`--small-share`); empty ones warn.
    pub small_share: f64,
    pub help: bool,
    /// First line of the help overlay shown (it scrolls when the terminal is small).
    pub help_scroll: u16,
    pub dialog: Option<Dialog>,
    pub editor: EditorState,
    pub params: ParamsState,
    pub preview: PreviewState,
    pub schema: SchemaState,
    pub library: LibraryState,
    pub overlap: OverlapState,
    pub funnel: FunnelState,
    pub hygiene: ReportState,
    pub compare: ReportState,
    pub movement: MovementState,
    pub split: SplitState,
    pub document: Document,
    /// The filter as last compiled successfully (what the preview shows).
    pub compiled: Option<Compiled>,
    /// Generation of the newest request; responses of older ones are dropped.
    pub generation: u64,
    pub preview_due: Option<Instant>,
    pub worker: WorkerState,
    pub status: Option<(Level, String)>,
    pub theme: String,
    pub size: (u16, u16),
    pub quit: bool,
    /// Rows the members table asks for.
    pub member_rows: usize,
    /// The time of the latest action (rendering shows elapsed times from it).
    pub clock: Instant,
}

impl AppState {
    pub fn new(
        db_label: String,
        table: String,
        key: String,
        base: u64,
        columns: Vec<Column>,
        theme: String,
    ) -> AppState {
        let mut textarea = TextArea::default();
        textarea.set_placeholder_text("Write a filter, e.g. lapsed(90) AND lifetime_spend > 5000   (F1: help)");
        AppState {
            db_label,
            data: None,
            table,
            key,
            base,
            columns,
            view: View::Explore,
            focus: Focus::Editor,
            side: SideTab::Library,
            author: String::new(),
            small_share: DEFAULT_SMALL_SHARE,
            help: false,
            help_scroll: 0,
            dialog: None,
            editor: EditorState { textarea, error: None, completion: None },
            params: ParamsState::default(),
            preview: PreviewState::default(),
            schema: SchemaState::default(),
            library: LibraryState::default(),
            overlap: OverlapState::default(),
            funnel: FunnelState::default(),
            hygiene: ReportState::default(),
            compare: ReportState::default(),
            movement: MovementState::default(),
            split: SplitState::default(),
            document: Document::default(),
            compiled: None,
            generation: 0,
            preview_due: None,
            worker: WorkerState::Idle,
            status: None,
            theme,
            size: (120, 40),
            quit: false,
            member_rows: 50,
            clock: Instant::now(),
        }
    }

    /// Unsaved edits: the text or parameter declarations differ from what was opened or saved.
    pub fn unsaved(&self) -> bool {
        let text = self.editor.text();
        let params: BTreeMap<String, ParamDecl> =
            self.params.items.iter().map(|p| (p.name.clone(), self.declared(p))).collect();
        (text.trim() != self.document.saved_text.trim() || params != self.document.saved_params)
            && !text.trim().is_empty()
    }

    /// A parameter as it would be declared in a saved template: the value in use is the default.
    pub fn declared(&self, p: &ParamItem) -> ParamDecl {
        let mut d = p.decl.clone();
        if let Some(v) = &p.value {
            d.default = Some(v.clone());
        }
        d
    }

    pub fn param_values(&self) -> BTreeMap<String, ParamValue> {
        self.params.items.iter().filter_map(|p| p.value.clone().map(|v| (p.name.clone(), v))).collect()
    }

    pub fn param_decls(&self) -> BTreeMap<String, ParamDecl> {
        self.params.items.iter().map(|p| (p.name.clone(), self.declared(p))).collect()
    }

    pub fn title(&self) -> String {
        match (&self.document.name, &self.document.origin) {
            (Some(n), Some(t)) if &t.name == n => format!("{n}@{}", t.version),
            (Some(n), _) => format!("{n} (new)"),
            (None, _) => "new filter".to_string(),
        }
    }

    /// The size saved with the version the editor started from, to show the change against it.
    pub fn saved_size(&self) -> Option<u64> {
        self.document.origin.as_ref().and_then(|t| t.snapshot.as_ref()).map(|s| s.size)
    }

    /// The key table that applies now.
    pub fn mode(&self) -> Mode {
        if self.help {
            return Mode::Help;
        }
        if let Some(d) = &self.dialog {
            return match d {
                Dialog::Save { .. } => Mode::Save,
                Dialog::Export { .. } => Mode::Export,
                Dialog::Name { .. } => Mode::Name,
                Dialog::ConfirmQuit => Mode::ConfirmQuit,
                Dialog::History { .. } => Mode::History,
                Dialog::Diff { .. } | Dialog::Message { .. } => Mode::Message,
            };
        }
        if self.params.input.is_some() && self.focus == Focus::Params {
            return Mode::ParamInput;
        }
        if self.library.typing && self.focus == Focus::Side && self.side == SideTab::Library {
            return Mode::Search;
        }
        self.panel_mode()
    }

    /// The key table of the panel or view under any dialog (the status line's hints).
    pub fn panel_mode(&self) -> Mode {
        if self.view == View::Overlap {
            return Mode::Overlap;
        }
        if self.view == View::Funnel {
            return Mode::Funnel;
        }
        if self.view == View::Hygiene {
            return Mode::Hygiene;
        }
        if self.view == View::Compare {
            return Mode::Compare;
        }
        if self.view == View::Movement {
            return Mode::Movement;
        }
        if self.view == View::Split {
            return Mode::Split;
        }
        match self.focus {
            Focus::Editor => Mode::Editor,
            Focus::Params => Mode::Params,
            Focus::Members => Mode::Members,
            Focus::Side => match self.side {
                SideTab::Library => Mode::Library,
                SideTab::Schema => Mode::Schema,
                SideTab::Features => Mode::Features,
            },
        }
    }

    /// The members table's columns: the user's choice, else the key and a few telling ones.
    pub fn shown_columns(&self) -> Vec<String> {
        if !self.preview.columns.is_empty() {
            return self.preview.columns.clone();
        }
        let preferred =
            ["email", "region", "language", "lifetime_spend", "orders_count", "last_order_date", "engagement_score"];
        let mut cols = vec![self.key.clone()];
        for p in preferred {
            if self.columns.iter().any(|c| c.name == p) {
                cols.push(p.to_string());
            }
        }
        if cols.len() == 1 {
            cols.extend(self.columns.iter().filter(|c| c.name != self.key).take(6).map(|c| c.name.clone()));
        }
        cols
    }
}
