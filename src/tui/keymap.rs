//! Keys → commands, one table per mode. Dispatch, the status-line hints and the help overlay all
//! read these tables, so help cannot drift from what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Quit,
    Help,
    Cancel,
    FocusNext,
    FocusPrev,
    Save,
    Export,
    New,
    CycleDimension,
    ToggleOverlap,
    CycleSide,
    CycleTheme,
    Refresh,
    Complete,
    Up,
    Down,
    PageUp,
    PageDown,
    Inc,
    Dec,
    IncBig,
    DecBig,
    Edit,
    CycleType,
    Open,
    ToggleWorking,
    Search,
    Approve,
    Retire,
    History,
    Duplicate,
    MoveUp,
    MoveDown,
    Insert,
    InsertValue,
    ToggleColumn,
    ToggleJaccard,
    Remove,
    ToggleFunnel,
    ToggleClause,
    ToggleHygiene,
    ToggleCompare,
    ToggleMovement,
    ToggleSplit,
    /// Movement: from an earlier / a later export.
    Earlier,
    Later,
    /// Split: the last dimension becomes the next / previous one; another dimension; one fewer.
    NextDimension,
    PrevDimension,
    AddDimension,
    DropDimension,
    /// Split: mark the selected cell for s and e.
    Mark,
    /// Split: save the chosen cells as segments of their own (children of the edited one).
    SaveCells,
    /// Split: export the chosen cells to one file, with a cell column.
    ExportCells,
    /// Close a dialog or overlay, or stop typing (Esc).
    Close,
    /// Confirm what a dialog or input asks (Enter).
    Submit,
    /// Save at once from any field of the save dialog.
    SubmitNow,
    NextField,
    PrevField,
    ToggleExclusive,
    ToggleSuppress,
    /// In the quit question: save first.
    SaveFirst,
    /// In the history: diff the selected version with the one before.
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Global,
    Editor,
    Params,
    Library,
    Schema,
    Features,
    Members,
    Overlap,
    Funnel,
    Hygiene,
    Compare,
    Movement,
    Split,
    /// The modes below hold the keyboard: a key they do not bind is text for their input (or,
    /// for the question and messages, closes them); nothing falls through to the panels.
    Help,
    Search,
    ParamInput,
    ConfirmQuit,
    Message,
    History,
    Name,
    Save,
    Export,
}

impl Mode {
    /// Every mode, in the order F1 lists them.
    pub const ALL: [Mode; 22] = [
        Mode::Global,
        Mode::Editor,
        Mode::Params,
        Mode::Library,
        Mode::Schema,
        Mode::Features,
        Mode::Members,
        Mode::Overlap,
        Mode::Funnel,
        Mode::Hygiene,
        Mode::Compare,
        Mode::Movement,
        Mode::Split,
        Mode::Help,
        Mode::Search,
        Mode::ParamInput,
        Mode::ConfirmQuit,
        Mode::Message,
        Mode::History,
        Mode::Name,
        Mode::Save,
        Mode::Export,
    ];

    /// A dialog, an overlay or an input line: it takes every key.
    pub fn is_modal(self) -> bool {
        matches!(
            self,
            Mode::Help
                | Mode::Search
                | Mode::ParamInput
                | Mode::ConfirmQuit
                | Mode::Message
                | Mode::History
                | Mode::Name
                | Mode::Save
                | Mode::Export
        )
    }

    /// What the keys a mode does not bind do, for F1.
    pub fn other_keys(self) -> Option<&'static str> {
        Some(match self {
            Mode::Editor => "other keys edit the filter text",
            Mode::Search | Mode::ParamInput | Mode::Name | Mode::Save | Mode::Export => {
                "letters and Backspace edit the text"
            }
            Mode::ConfirmQuit => "any other key: stay",
            _ => return None,
        })
    }

    pub fn title(self) -> &'static str {
        match self {
            Mode::Global => "Everywhere",
            Mode::Editor => "Filter editor",
            Mode::Params => "Parameters",
            Mode::Library => "Library",
            Mode::Schema => "Schema",
            Mode::Features => "Features",
            Mode::Members => "Members",
            Mode::Overlap => "Overlap view",
            Mode::Funnel => "Funnel view",
            Mode::Hygiene => "Hygiene report",
            Mode::Compare => "Compare view",
            Mode::Movement => "Movement view (F10)",
            Mode::Split => "Split view (Ctrl-T)",
            Mode::Help => "This help",
            Mode::Search => "Library search (/)",
            Mode::ParamInput => "Typing a parameter value",
            Mode::ConfirmQuit => "Quit with unsaved edits",
            Mode::Message => "Messages and diffs",
            Mode::History => "History (h in the library)",
            Mode::Name => "Name a segment (Ctrl-N, d)",
            Mode::Save => "Save dialog (Ctrl-S)",
            Mode::Export => "Export dialog (Ctrl-E)",
        }
    }
}

pub struct Binding {
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub cmd: Cmd,
    pub help: &'static str,
}

const fn b(code: KeyCode, cmd: Cmd, help: &'static str) -> Binding {
    Binding { code, mods: KeyModifiers::NONE, cmd, help }
}

const fn ctrl(c: char, cmd: Cmd, help: &'static str) -> Binding {
    Binding { code: KeyCode::Char(c), mods: KeyModifiers::CONTROL, cmd, help }
}

use Cmd::*;
use KeyCode::{BackTab, Char, Delete, Down, Enter, Esc, F, PageDown as PgDn, PageUp as PgUp, Tab, Up as KUp};

pub const GLOBAL: &[Binding] = &[
    b(F(1), Help, "help"),
    ctrl('q', Quit, "quit (asks about unsaved edits)"),
    ctrl('c', Quit, "quit"),
    b(Esc, Cancel, "cancel the running query / close"),
    b(BackTab, FocusNext, "next panel"),
    ctrl('s', Save, "save as the next version"),
    ctrl('e', Export, "export the segment to CSV"),
    ctrl('n', New, "new segment"),
    b(F(2), CycleDimension, "next breakdown dimension"),
    b(F(3), ToggleOverlap, "overlap view on/off"),
    b(F(4), CycleSide, "side panel: library / schema / features"),
    b(F(5), Refresh, "run the preview again"),
    b(F(6), CycleTheme, "next colour theme"),
    b(F(7), ToggleFunnel, "funnel view on/off: what each clause removes"),
    b(F(8), ToggleHygiene, "data hygiene report on/off (runs in the background)"),
    b(F(9), ToggleCompare, "compare the edited filter with the selected library segment"),
    b(F(10), ToggleMovement, "movement view: where the customers of an earlier export are now"),
    ctrl('t', ToggleSplit, "split view: the segment by the breakdown dimension (and more)"),
];

pub const EDITOR: &[Binding] = &[b(Tab, Complete, "complete a column, table, function or feature")];

/// Shared by panels other than the editor.
pub const PANEL: &[Binding] =
    &[b(Tab, FocusNext, "next panel"), b(Char('?'), Help, "help"), b(Char('q'), Quit, "quit")];

pub const PARAMS: &[Binding] = &[
    b(KUp, Up, "previous parameter"),
    b(Down, Cmd::Down, "next parameter"),
    b(Char('+'), Inc, "nudge up one step"),
    b(Char('-'), Dec, "nudge down one step"),
    b(KeyCode::Right, Inc, "nudge up"),
    b(KeyCode::Left, Dec, "nudge down"),
    b(Char(']'), IncBig, "nudge up ten steps"),
    b(Char('['), DecBig, "nudge down ten steps"),
    b(Enter, Edit, "type a value"),
    b(Char('t'), CycleType, "change the type (undeclared: declares it)"),
];

pub const LIBRARY: &[Binding] = &[
    b(KUp, Up, "previous segment"),
    b(Down, Cmd::Down, "next segment"),
    b(Enter, Open, "open in the editor"),
    b(Char(' '), ToggleWorking, "add to / remove from the overlap working set"),
    b(Char('/'), Search, "filter the list by typing"),
    b(Char('a'), Approve, "approve the latest version"),
    b(Char('r'), Retire, "retire the segment"),
    b(Char('h'), History, "history: versions with sizes (d in it: diff)"),
    b(Char('d'), Duplicate, "duplicate under a new name"),
    b(Char('K'), MoveUp, "raise priority in the working set"),
    b(Char('J'), MoveDown, "lower priority in the working set"),
];

pub const SCHEMA: &[Binding] = &[
    b(KUp, Up, "previous column"),
    b(Down, Cmd::Down, "next column"),
    b(Enter, Insert, "insert the column name into the filter"),
    b(Char('v'), InsertValue, "insert its top value into the filter"),
    b(Char(' '), ToggleColumn, "show / hide the column in the members table"),
];

pub const FEATURES: &[Binding] = &[
    b(KUp, Up, "previous feature"),
    b(Down, Cmd::Down, "next feature"),
    b(Enter, Insert, "insert a call into the filter"),
];

pub const MEMBERS: &[Binding] = &[
    b(KUp, Up, "scroll up"),
    b(Down, Cmd::Down, "scroll down"),
    b(PgUp, PageUp, "page up"),
    b(PgDn, PageDown, "page down"),
];

pub const OVERLAP: &[Binding] = &[
    b(KUp, Up, "previous segment"),
    b(Down, Cmd::Down, "next segment"),
    b(Char('j'), ToggleJaccard, "counts / Jaccard"),
    b(Char('K'), MoveUp, "raise priority"),
    b(Char('J'), MoveDown, "lower priority"),
    b(Delete, Remove, "remove from the working set"),
    b(Char('x'), Remove, "remove from the working set"),
];

/// The hygiene report and the compare view: text that scrolls; F5 measures it again.
pub const REPORT: &[Binding] = &[
    b(KUp, Up, "scroll up"),
    b(Down, Cmd::Down, "scroll down"),
    b(PgUp, PageUp, "page up"),
    b(PgDn, PageDown, "page down"),
    b(F(5), Refresh, "measure again"),
];

pub const FUNNEL: &[Binding] = &[
    b(KUp, Up, "previous clause"),
    b(Down, Cmd::Down, "next clause"),
    b(Char(' '), ToggleClause, "switch the clause off / on (what-if; the filter text is unchanged)"),
];

pub const MOVEMENT: &[Binding] = &[
    b(KeyCode::Left, Earlier, "from an earlier export"),
    b(KeyCode::Right, Later, "from a later export"),
    b(F(5), Refresh, "measure again"),
];

pub const SPLIT: &[Binding] = &[
    b(KUp, Up, "previous cell"),
    b(Down, Cmd::Down, "next cell"),
    b(KeyCode::Right, NextDimension, "the last dimension: the next column"),
    b(KeyCode::Left, PrevDimension, "the last dimension: the previous column"),
    b(Char('+'), AddDimension, "split by one more column"),
    b(Char('-'), DropDimension, "drop the last column"),
    b(Char(' '), Mark, "mark / unmark the cell"),
    b(Char('s'), SaveCells, "save the marked cells (or the selected one) as segments of their own"),
    b(Char('e'), ExportCells, "export the marked cells (or all) to one file with a cell column"),
];

pub const HELP: &[Binding] = &[
    b(Esc, Close, "close"),
    b(F(1), Close, "close"),
    b(Char('?'), Close, "close"),
    b(Char('q'), Close, "close"),
    b(Enter, Close, "close"),
    b(KUp, Up, "scroll up"),
    b(Down, Cmd::Down, "scroll down"),
    b(PgUp, PageUp, "page up"),
    b(PgDn, PageDown, "page down"),
];

pub const SEARCH: &[Binding] = &[
    b(Esc, Close, "clear the search"),
    b(Enter, Submit, "keep the search, back to the list"),
    b(KUp, Submit, "keep the search, back to the list"),
    b(Down, Submit, "keep the search, back to the list"),
];

pub const PARAM_INPUT: &[Binding] = &[b(Esc, Close, "cancel"), b(Enter, Submit, "set the value")];

pub const CONFIRM_QUIT: &[Binding] = &[
    b(Char('y'), Quit, "quit and drop the edits"),
    b(Char('Y'), Quit, "quit and drop the edits"),
    b(Char('s'), SaveFirst, "save first"),
    b(Char('S'), SaveFirst, "save first"),
];

pub const MESSAGE: &[Binding] = &[b(Esc, Close, "close"), b(Enter, Close, "close"), b(Char('q'), Close, "close")];

pub const HISTORY: &[Binding] = &[
    b(Esc, Close, "close"),
    b(Char('q'), Close, "close"),
    b(KUp, Up, "previous version"),
    b(Down, Cmd::Down, "next version"),
    b(Char('d'), Diff, "diff with the version before"),
];

pub const NAME: &[Binding] = &[b(Esc, Close, "cancel"), b(Enter, Submit, "confirm the name")];

pub const SAVE: &[Binding] = &[
    b(Esc, Close, "cancel"),
    b(Tab, NextField, "next field"),
    b(Down, NextField, "next field"),
    b(BackTab, PrevField, "previous field"),
    b(KUp, PrevField, "previous field"),
    b(Enter, Submit, "next field; on the last one, save"),
    ctrl('s', SubmitNow, "save now"),
];

pub const EXPORT: &[Binding] = &[
    b(Esc, Close, "close; while exporting, cancel the export"),
    b(Tab, NextField, "next field"),
    b(Down, NextField, "next field"),
    b(BackTab, PrevField, "previous field"),
    b(KUp, PrevField, "previous field"),
    ctrl('x', ToggleExclusive, "exclusive: each customer in one segment"),
    ctrl('u', ToggleSuppress, "apply the suppressions on / off"),
    b(Enter, Submit, "start the export"),
    ctrl('q', Quit, "quit (a running export is cancelled, nothing written)"),
];

pub fn table(mode: Mode) -> &'static [Binding] {
    match mode {
        Mode::Global => GLOBAL,
        Mode::Editor => EDITOR,
        Mode::Params => PARAMS,
        Mode::Library => LIBRARY,
        Mode::Schema => SCHEMA,
        Mode::Features => FEATURES,
        Mode::Members => MEMBERS,
        Mode::Overlap => OVERLAP,
        Mode::Funnel => FUNNEL,
        Mode::Hygiene | Mode::Compare => REPORT,
        Mode::Movement => MOVEMENT,
        Mode::Split => SPLIT,
        Mode::Help => HELP,
        Mode::Search => SEARCH,
        Mode::ParamInput => PARAM_INPUT,
        Mode::ConfirmQuit => CONFIRM_QUIT,
        Mode::Message => MESSAGE,
        Mode::History => HISTORY,
        Mode::Name => NAME,
        Mode::Save => SAVE,
        Mode::Export => EXPORT,
    }
}

/// Shift is part of the character for character keys ('K' arrives with or without SHIFT
/// depending on the terminal), so it is dropped before matching.
fn normalize(key: &KeyEvent) -> (KeyCode, KeyModifiers) {
    let mut mods = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
    if let KeyCode::Char(c) = key.code {
        mods.remove(KeyModifiers::SHIFT);
        if mods.contains(KeyModifiers::CONTROL) {
            return (KeyCode::Char(c.to_ascii_lowercase()), mods);
        }
    }
    if key.code == KeyCode::BackTab {
        mods.remove(KeyModifiers::SHIFT);
    }
    (key.code, mods)
}

/// The command `key` means in `mode`: the mode's own table first, then (outside the editor) the
/// panel keys, then the global ones. A modal mode has only its own table.
pub fn lookup(mode: Mode, key: &KeyEvent) -> Option<Cmd> {
    let (code, mods) = normalize(key);
    let find = |t: &[Binding]| t.iter().find(|b| b.code == code && b.mods == mods).map(|b| b.cmd);
    if mode.is_modal() {
        return find(table(mode));
    }
    find(table(mode)).or_else(|| if mode == Mode::Editor { None } else { find(PANEL) }).or_else(|| find(GLOBAL))
}

pub fn key_name(b: &Binding) -> String {
    let k = match b.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::BackTab => "Shift-Tab".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        other => format!("{other:?}"),
    };
    if b.mods.contains(KeyModifiers::CONTROL) { format!("Ctrl-{}", k.to_ascii_uppercase()) } else { k }
}

/// A few short hints for the status line, from the same tables.
pub fn hints(mode: Mode) -> Vec<(String, &'static str)> {
    let short = |c: Cmd| -> Option<&'static str> {
        Some(match c {
            Help => "help",
            Save => "save",
            Inc => "nudge",
            Edit => "type",
            Open => "open",
            ToggleWorking => "overlap set",
            Insert => "insert",
            Complete => "complete",
            ToggleOverlap => "overlap",
            ToggleClause => "what-if",
            Cancel => "cancel",
            Quit => "quit",
            _ => return None,
        })
    };
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for b in table(mode).iter().chain(GLOBAL.iter()) {
        if let Some(s) = short(b.cmd)
            && !out.iter().any(|(_, x)| *x == s)
        {
            out.push((key_name(b), s));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_is_normalized_and_modes_fall_back_to_global() {
        let k = KeyEvent::new(KeyCode::Char('K'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Mode::Library, &k), Some(MoveUp));
        let f1 = KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE);
        assert_eq!(lookup(Mode::Editor, &f1), Some(Help));
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(Mode::Editor, &q), None, "typing q in the editor is text");
        assert_eq!(lookup(Mode::Params, &q), Some(Quit));
    }
}
