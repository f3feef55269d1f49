//! The dialogs, and the document (what is edited, against what was saved) that some of them save.

use std::collections::BTreeMap;

use super::Cells;
use crate::engine::ParamDecl;
use crate::library::Template;

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
