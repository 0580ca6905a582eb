//! Themes: `themes/*.toml`, embedded at build time. Widgets never name a colour; they ask the
//! theme for a role (`ok`, `error`, `selection`, ...).
//!
//! Each colour is a named ANSI colour, so the terminal's palette decides the shade (works over
//! SSH, in tmux and on 16-colour terminals), optionally followed by `#rrggbb`, used only when the
//! terminal says it has truecolor (`COLORTERM=truecolor|24bit`). With `NO_COLOR` every colour is
//! dropped and selection and hits are shown reversed/underlined instead.

use std::str::FromStr;

use anyhow::{Context as _, bail};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// Every bundled theme: (name, TOML).
pub(crate) const THEMES: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("16-color", include_str!("../../themes/16-color.toml")),
];

/// How much colour the terminal gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColorMode {
    /// `NO_COLOR`: modifiers only.
    None,
    /// Named ANSI colours (the default).
    Named,
    /// 24-bit colour where the theme gives one.
    TrueColor,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Theme {
    pub(crate) name: String,
    /// The syntect theme for highlighted files.
    pub(crate) syntax: String,
    pub(crate) text: Style,
    pub(crate) muted: Style,
    pub(crate) accent: Style,
    pub(crate) ok: Style,
    pub(crate) warn: Style,
    pub(crate) error: Style,
    pub(crate) running: Style,
    pub(crate) border: Style,
    pub(crate) focus: Style,
    pub(crate) selection: Style,
    pub(crate) hit: Style,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    syntax: String,
    colors: Colors,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Colors {
    text: String,
    muted: String,
    accent: String,
    ok: String,
    warn: String,
    error: String,
    running: String,
    border: String,
    focus: String,
    selection_fg: String,
    selection_bg: String,
    hit_fg: String,
    hit_bg: String,
}

/// `"cyan #88c0d0"` → the named colour, or the hex one in truecolor mode.
fn color(spec: &str, mode: ColorMode) -> anyhow::Result<Color> {
    let mut parts = spec.split_whitespace();
    let named = parts.next().context("empty colour")?;
    let hex = parts.next();
    if parts.next().is_some() {
        bail!("colour '{spec}' has more than a name and a #rrggbb");
    }
    let named = Color::from_str(named).map_err(|_| anyhow::anyhow!("unknown colour '{named}'"))?;
    if let Some(hex) = hex {
        if !hex.starts_with('#') || hex.len() != 7 {
            bail!("'{hex}' is not a #rrggbb colour");
        }
        let rgb = Color::from_str(hex).map_err(|_| anyhow::anyhow!("bad colour '{hex}'"))?;
        if mode == ColorMode::TrueColor {
            return Ok(rgb);
        }
    }
    Ok(named)
}

impl Theme {
    /// The bundled theme called `name`.
    pub(crate) fn named(name: &str, mode: ColorMode) -> anyhow::Result<Self> {
        let (_, toml) = THEMES.iter().find(|(n, _)| *n == name).with_context(|| {
            let names: Vec<&str> = THEMES.iter().map(|(n, _)| *n).collect();
            format!("unknown theme '{name}'; choose one of {}", names.join(", "))
        })?;
        Self::parse(toml, mode).with_context(|| format!("theme '{name}'"))
    }

    pub(crate) fn parse(toml: &str, mode: ColorMode) -> anyhow::Result<Self> {
        let file: File = toml::from_str(toml)?;
        let c = &file.colors;
        let fg = |spec: &str| -> anyhow::Result<Style> {
            Ok(match mode {
                ColorMode::None => Style::new(),
                _ => Style::new().fg(color(spec, mode)?),
            })
        };
        let pair = |f: &str, b: &str, plain: Modifier| -> anyhow::Result<Style> {
            Ok(match mode {
                ColorMode::None => Style::new().add_modifier(plain),
                _ => Style::new().fg(color(f, mode)?).bg(color(b, mode)?),
            })
        };
        Ok(Self {
            name: file.name,
            syntax: file.syntax,
            text: fg(&c.text)?,
            muted: fg(&c.muted)?,
            accent: fg(&c.accent)?.add_modifier(Modifier::BOLD),
            ok: fg(&c.ok)?,
            warn: fg(&c.warn)?,
            error: fg(&c.error)?,
            running: fg(&c.running)?,
            border: fg(&c.border)?,
            focus: fg(&c.focus)?,
            selection: pair(&c.selection_fg, &c.selection_bg, Modifier::REVERSED)?,
            hit: pair(&c.hit_fg, &c.hit_bg, Modifier::UNDERLINED | Modifier::BOLD)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_theme_file_loads_in_every_mode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut bundled: Vec<String> = THEMES.iter().map(|(n, _)| (*n).to_string()).collect();
        bundled.sort();
        assert_eq!(on_disk, bundled, "every themes/*.toml is bundled");
        let syntaxes = syntect::highlighting::ThemeSet::load_defaults();
        for (name, _) in THEMES {
            for mode in [ColorMode::None, ColorMode::Named, ColorMode::TrueColor] {
                let theme = Theme::named(name, mode).unwrap();
                assert_eq!(&theme.name, name);
                assert!(
                    syntaxes.themes.contains_key(&theme.syntax),
                    "theme {name}: syntect theme '{}' exists",
                    theme.syntax
                );
            }
        }
    }

    #[test]
    fn the_16_color_theme_never_uses_truecolor() {
        let theme = Theme::named("16-color", ColorMode::TrueColor).unwrap();
        for style in [
            theme.text,
            theme.ok,
            theme.error,
            theme.selection,
            theme.hit,
        ] {
            for c in [style.fg, style.bg].into_iter().flatten() {
                assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?}");
            }
        }
    }

    #[test]
    fn named_by_default_hex_only_for_truecolor_and_none_for_no_color() {
        let named = Theme::named("dark", ColorMode::Named).unwrap();
        assert_eq!(named.error.fg, Some(Color::Red));
        let rgb = Theme::named("dark", ColorMode::TrueColor).unwrap();
        assert_eq!(rgb.error.fg, Some(Color::Rgb(0xbf, 0x61, 0x6a)));
        let none = Theme::named("dark", ColorMode::None).unwrap();
        assert_eq!(none.error.fg, None);
        assert!(none.selection.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn bad_theme_says_what_is_wrong() {
        let err = Theme::named("neon", ColorMode::Named).unwrap_err();
        assert!(err.to_string().contains("unknown theme 'neon'"), "{err}");
        let bad = THEMES[0].1.replace("\"red #bf616a\"", "\"rouge\"");
        let err = Theme::parse(&bad, ColorMode::Named).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown colour 'rouge'"),
            "{err:#}"
        );
    }
}
