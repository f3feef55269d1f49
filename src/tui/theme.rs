//! Colours as semantic roles. Built-in themes are `themes/*.toml`, compiled in; a user theme of the
//! same shape in `<config dir>/themes/NAME.toml` overrides by name. NO_COLOR keeps only bold,
//! reverse and underline.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("solarized", include_str!("../../themes/solarized.toml")),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    text: String,
    muted: String,
    accent: String,
    focus: String,
    error: String,
    warn: String,
    ok: String,
    selection_fg: String,
    selection_bg: String,
    bar_segment: String,
    bar_base: String,
    heat: Vec<String>,
    heat_text: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub color: bool,
    pub text: Color,
    pub muted: Color,
    pub accent: Color,
    pub focus: Color,
    pub error: Color,
    pub warn: Color,
    pub ok: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub bar_segment: Color,
    pub bar_base: Color,
    pub heat: Vec<Color>,
    pub heat_text: Vec<Color>,
}

fn color(s: &str) -> Result<Color, String> {
    Color::from_str(s).map_err(|_| format!("{s:?} is not a colour (#rrggbb or a name)"))
}

impl Theme {
    pub fn parse(text: &str) -> Result<Theme, String> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let list = |v: &[String]| v.iter().map(|c| color(c)).collect::<Result<Vec<_>, _>>();
        let heat = list(&f.heat)?;
        let heat_text = list(&f.heat_text)?;
        if heat.is_empty() || heat.len() != heat_text.len() {
            return Err("heat and heat_text need the same, non-zero number of colours".into());
        }
        Ok(Theme {
            name: f.name,
            color: true,
            text: color(&f.text)?,
            muted: color(&f.muted)?,
            accent: color(&f.accent)?,
            focus: color(&f.focus)?,
            error: color(&f.error)?,
            warn: color(&f.warn)?,
            ok: color(&f.ok)?,
            selection_fg: color(&f.selection_fg)?,
            selection_bg: color(&f.selection_bg)?,
            bar_segment: color(&f.bar_segment)?,
            bar_base: color(&f.bar_base)?,
            heat,
            heat_text,
        })
    }

    /// Names of every theme: built-ins, then user themes.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        if let Ok(entries) = std::fs::read_dir(crate::config::config_dir().join("themes")) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                    && !names.iter().any(|n| n == stem)
                {
                    names.push(stem.to_string());
                }
            }
        }
        names
    }

    /// Loads theme `name` (a user theme first), honouring NO_COLOR.
    pub fn load(name: &str) -> Result<Theme, String> {
        let user = crate::config::config_dir().join("themes").join(format!("{name}.toml"));
        let mut theme = match std::fs::read_to_string(&user) {
            Ok(text) => Theme::parse(&text).map_err(|e| format!("{}: {e}", user.display()))?,
            Err(_) => match BUILTIN.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => Theme::parse(text)?,
                None => {
                    return Err(format!("no theme {name:?}; themes: {}", Theme::names().join(", ")));
                }
            },
        };
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            theme = theme.without_color();
        }
        Ok(theme)
    }

    pub fn default_theme() -> Theme {
        Theme::parse(BUILTIN[0].1).unwrap_or_else(|_| Theme::plain("dark"))
    }

    fn plain(name: &str) -> Theme {
        let r = Color::Reset;
        Theme {
            name: name.to_string(),
            color: false,
            text: r,
            muted: r,
            accent: r,
            focus: r,
            error: r,
            warn: r,
            ok: r,
            selection_fg: r,
            selection_bg: r,
            bar_segment: r,
            bar_base: r,
            heat: vec![r],
            heat_text: vec![r],
        }
    }

    pub fn without_color(&self) -> Theme {
        Theme::plain(&self.name)
    }

    fn fg(&self, c: Color) -> Style {
        if self.color { Style::default().fg(c) } else { Style::default() }
    }

    pub fn text(&self) -> Style {
        self.fg(self.text)
    }
    pub fn muted(&self) -> Style {
        if self.color { self.fg(self.muted) } else { Style::default().add_modifier(Modifier::DIM) }
    }
    pub fn accent(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }
    pub fn error(&self) -> Style {
        let s = self.fg(self.error);
        if self.color { s } else { s.add_modifier(Modifier::BOLD | Modifier::UNDERLINED) }
    }
    pub fn warn(&self) -> Style {
        let s = self.fg(self.warn);
        if self.color { s } else { s.add_modifier(Modifier::BOLD) }
    }
    pub fn ok(&self) -> Style {
        self.fg(self.ok)
    }
    pub fn selection(&self) -> Style {
        if self.color {
            Style::default().fg(self.selection_fg).bg(self.selection_bg)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }
    pub fn bar_segment(&self) -> Style {
        self.fg(self.bar_segment)
    }
    pub fn bar_base(&self) -> Style {
        self.fg(self.bar_base)
    }

    /// The border and title style of a panel.
    pub fn title(&self, focused: bool) -> Style {
        if focused { self.fg(self.focus).add_modifier(Modifier::BOLD) } else { self.muted() }
    }

    /// A heatmap cell for a ratio 0..1.
    pub fn heat(&self, ratio: f64) -> Style {
        let n = self.heat.len();
        let i = ((ratio.clamp(0.0, 1.0) * (n as f64 - 1.0)).round() as usize).min(n - 1);
        if self.color {
            Style::default().bg(self.heat[i]).fg(self.heat_text[i])
        } else if ratio >= 0.5 {
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::default()
        }
    }

    /// Style for figures shown from an older filter.
    pub fn stale(&self, stale: bool, s: Style) -> Style {
        if stale { s.add_modifier(Modifier::DIM) } else { s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_no_color_drops_colors() {
        for (name, text) in BUILTIN {
            let t = Theme::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&t.name, name);
        }
        let t = Theme::default_theme().without_color();
        assert_eq!(t.heat(0.9).bg, None);
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
    }
}
