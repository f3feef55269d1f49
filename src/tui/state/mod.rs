//! `AppState`: everything the screen shows, and nothing that does I/O. `update` changes it;
//! rendering only reads it (apart from the widget scroll state ratatui needs).

mod dialog;
mod panels;

pub use dialog::*;
pub use panels::*;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ratatui_textarea::TextArea;

use crate::engine::query::size::DEFAULT_SMALL_SHARE;
use crate::engine::{Column, Compiled, ParamDecl, ParamValue};
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

/// The data the explorer has open.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The file's name, for the status line.
    pub label: String,
    /// Its version, to tell templates written for it from those written elsewhere.
    pub fingerprint: Option<crate::engine::Fingerprint>,
    pub table: String,
    pub key: String,
    /// Customers in the table: what a segment's share is of.
    pub base: u64,
    pub columns: Vec<Column>,
}

pub struct AppState {
    pub dataset: Dataset,
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
    /// The background jobs' ids: the latest of each kind, whose answer is shown.
    pub jobs: crate::tui::jobs::JobBook,
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
            dataset: Dataset { label: db_label, fingerprint: None, table, key, base, columns },
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
            jobs: Default::default(),
            member_rows: 50,
            clock: Instant::now(),
        }
    }

    /// A background job of `kind` runs (a report or the movement being measured): the job book
    /// knows, so no view keeps a flag of its own that could disagree.
    pub fn measuring(&self, kind: crate::tui::jobs::JobKind) -> bool {
        self.jobs.running(kind).is_some()
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
        let d = &self.dataset;
        let mut cols = vec![d.key.clone()];
        for p in preferred {
            if d.columns.iter().any(|c| c.name == p) {
                cols.push(p.to_string());
            }
        }
        if cols.len() == 1 {
            cols.extend(d.columns.iter().filter(|c| c.name != d.key).take(6).map(|c| c.name.clone()));
        }
        cols
    }
}
