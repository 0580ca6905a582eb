//! Keys to actions, per view plus global ones. Every binding can be changed in `[tui.keys]`
//! (`action = "key"`); `?` lists the bindings of the focused view straight from here, so the
//! help cannot drift from what the keys do. Menu letters never reuse hjkl.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::state::ViewId;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Global,
    View(ViewId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) code: KeyCode,
    pub(crate) ctrl: bool,
}

impl Key {
    pub(crate) fn from_event(e: &KeyEvent) -> Self {
        Self {
            code: e.code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    /// `"q"`, `"ctrl-c"`, `"enter"`, `"esc"`, `"tab"`, `"up"`, `"pgdn"`, `"f1"`, `"?"`.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let (ctrl, rest) = match text.strip_prefix("ctrl-") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.starts_with('f') && f.len() > 1 => KeyCode::F(
                f[1..]
                    .parse()
                    .with_context(|| format!("unknown key '{text}'"))?,
            ),
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
            _ => bail!(
                "unknown key '{text}'; use a character, ctrl-X, enter, esc, tab, up, pgdn, f1, ..."
            ),
        };
        Ok(Self { code, ctrl })
    }

    pub(crate) fn label(self) -> String {
        let base = match self.code {
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "backtab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::F(n) => format!("f{n}"),
            KeyCode::Char(' ') => "space".into(),
            KeyCode::Char(c) => c.to_string(),
            _ => "?".into(),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(crate) scope: Scope,
    pub(crate) key: Key,
    pub(crate) action: Action,
    /// Shown in the bottom key line.
    pub(crate) hint: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keymap {
    pub(crate) bindings: Vec<Binding>,
}

fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Default for Keymap {
    fn default() -> Self {
        use Action as A;
        use ViewId as V;
        let mut b = Vec::new();
        let mut add = |scope: Scope, key: Key, action: Action, hint: bool| {
            b.push(Binding {
                scope,
                key,
                action,
                hint,
            });
        };
        let g = Scope::Global;
        add(g, k('q'), A::Quit, true);
        add(
            g,
            Key {
                code: KeyCode::Char('c'),
                ctrl: true,
            },
            A::Quit,
            false,
        );
        add(g, k('?'), A::Help, true);
        add(g, k(':'), A::Command, false);
        add(g, code(KeyCode::Esc), A::Back, false);
        for (n, a) in [
            ('1', A::Home),
            ('2', A::Runs),
            ('3', A::Detail),
            ('4', A::Logs),
            ('5', A::Artifacts),
            ('6', A::Findings),
            ('7', A::Calls),
        ] {
            add(g, k(n), a, false);
        }
        for (key, a) in [
            (k('k'), A::Up),
            (code(KeyCode::Up), A::Up),
            (k('j'), A::Down),
            (code(KeyCode::Down), A::Down),
            (k('h'), A::Left),
            (code(KeyCode::Left), A::Left),
            (k('l'), A::Right),
            (code(KeyCode::Right), A::Right),
            (code(KeyCode::PageUp), A::PageUp),
            (code(KeyCode::PageDown), A::PageDown),
            (k('g'), A::Top),
            (code(KeyCode::Home), A::Top),
            (k('G'), A::Bottom),
            (code(KeyCode::End), A::Bottom),
            (code(KeyCode::Enter), A::Open),
        ] {
            add(g, key, a, false);
        }
        let home = Scope::View(V::Home);
        add(home, code(KeyCode::Enter), A::Open, true);
        add(home, k('n'), A::NewRequest, true);
        add(home, k('r'), A::StartRun, true);
        add(home, k('a'), A::AddProject, true);
        add(home, k('x'), A::OpenExample, true);
        let runs = Scope::View(V::Runs);
        add(runs, code(KeyCode::Enter), A::Open, true);
        add(runs, k('s'), A::FilterStatus, true);
        add(runs, k('n'), A::NewRequest, true);
        add(runs, k('c'), A::Cancel, true);
        add(runs, k('t'), A::Retry, false);
        add(runs, k('u'), A::Resume, false);
        let detail = Scope::View(V::Detail);
        add(detail, code(KeyCode::Enter), A::Open, true);
        add(detail, k('c'), A::Cancel, true);
        add(detail, k('t'), A::Retry, true);
        add(detail, k('u'), A::Resume, true);
        add(detail, k('y'), A::Accept, true);
        add(detail, k('d'), A::Reject, true);
        add(detail, k('x'), A::Export, true);
        let logs = Scope::View(V::Logs);
        add(logs, k('/'), A::Search, true);
        add(logs, k('&'), A::Filter, true);
        add(logs, k('n'), A::NextHit, true);
        add(logs, k('N'), A::PrevHit, false);
        add(logs, k('e'), A::NextError, true);
        add(logs, k('E'), A::PrevError, false);
        add(logs, k('w'), A::NextWarn, false);
        add(logs, k('W'), A::PrevWarn, false);
        add(logs, k('f'), A::Follow, true);
        add(logs, k('z'), A::Wrap, true);
        add(logs, k('S'), A::StageFilter, false);
        add(logs, k('O'), A::StreamFilter, false);
        add(logs, k('V'), A::LevelFilter, false);
        add(logs, k('v'), A::Select, false);
        add(logs, k('y'), A::Copy, true);
        let art = Scope::View(V::Artifacts);
        add(art, k('d'), A::DiffPrev, true);
        add(art, k('p'), A::DiffProject, true);
        add(art, k('o'), A::Editor, true);
        let findings = Scope::View(V::Findings);
        add(findings, code(KeyCode::Enter), A::Open, true);
        add(findings, k('o'), A::Editor, true);
        Self { bindings: b }
    }
}

impl Keymap {
    /// The defaults with `[tui.keys]` applied: each entry replaces every key of that action.
    pub(crate) fn with_overrides(overrides: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let mut map = Self::default();
        for (name, key) in overrides {
            let action = Action::from_name(name).with_context(|| {
                format!("[tui.keys]: unknown action '{name}'; see `?` or docs/dashboard.md for the names")
            })?;
            let key = Key::parse(key).with_context(|| format!("[tui.keys] {name}"))?;
            let scopes: Vec<(Scope, bool)> = map
                .bindings
                .iter()
                .filter(|b| b.action == action)
                .map(|b| (b.scope, b.hint))
                .collect();
            map.bindings.retain(|b| b.action != action);
            let mut seen = Vec::new();
            for (scope, hint) in scopes {
                if !seen.contains(&scope) {
                    seen.push(scope);
                    map.bindings.insert(
                        0,
                        Binding {
                            scope,
                            key,
                            action,
                            hint,
                        },
                    );
                }
            }
        }
        Ok(map)
    }

    /// The action of `key` in `view`: the view's own bindings first, then the global ones.
    pub(crate) fn action(&self, view: ViewId, key: Key) -> Option<Action> {
        let find = |scope: Scope| {
            self.bindings
                .iter()
                .find(|b| b.scope == scope && b.key == key)
                .map(|b| b.action)
        };
        find(Scope::View(view)).or_else(|| find(Scope::Global))
    }

    /// Every binding that works in `view`, the view's first, one line per action.
    pub(crate) fn help(&self, view: ViewId) -> Vec<(String, Action)> {
        let mut out: Vec<(String, Action)> = Vec::new();
        for scope in [Scope::View(view), Scope::Global] {
            for b in self.bindings.iter().filter(|b| b.scope == scope) {
                if self.action(view, b.key) != Some(b.action) {
                    continue; // shadowed by the view
                }
                match out.iter_mut().find(|(_, a)| *a == b.action) {
                    Some((keys, _)) => {
                        keys.push('/');
                        keys.push_str(&b.key.label());
                    }
                    None => out.push((b.key.label(), b.action)),
                }
            }
        }
        out
    }

    /// The short key line of `view`.
    pub(crate) fn hints(&self, view: ViewId) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for scope in [Scope::View(view), Scope::Global] {
            for b in self.bindings.iter().filter(|b| b.scope == scope && b.hint) {
                if self.action(view, b.key) == Some(b.action)
                    && !out.iter().any(|(_, n)| *n == b.action.as_str())
                {
                    out.push((b.key.label(), b.action.as_str()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_keys_win_and_overrides_replace() {
        let map = Keymap::default();
        assert_eq!(map.action(ViewId::Logs, k('n')), Some(Action::NextHit));
        assert_eq!(map.action(ViewId::Home, k('n')), Some(Action::NewRequest));
        assert_eq!(map.action(ViewId::Logs, k('j')), Some(Action::Down));
        let map =
            Keymap::with_overrides(&BTreeMap::from([("quit".into(), "ctrl-q".into())])).unwrap();
        assert_eq!(map.action(ViewId::Home, k('q')), None);
        let ctrl_q = Key::parse("ctrl-q").unwrap();
        assert_eq!(map.action(ViewId::Home, ctrl_q), Some(Action::Quit));
        let err =
            Keymap::with_overrides(&BTreeMap::from([("fly".into(), "x".into())])).unwrap_err();
        assert!(err.to_string().contains("unknown action 'fly'"), "{err}");
    }

    #[test]
    fn menu_letters_never_reuse_navigation_keys() {
        let map = Keymap::default();
        for b in &map.bindings {
            if let KeyCode::Char(c @ ('h' | 'j' | 'k' | 'l')) = b.key.code {
                assert!(
                    matches!(
                        b.action,
                        Action::Up | Action::Down | Action::Left | Action::Right
                    ),
                    "{c} is bound to {:?}",
                    b.action
                );
            }
        }
    }

    #[test]
    fn help_lists_every_reachable_action_of_the_view() {
        let map = Keymap::default();
        let help = map.help(ViewId::Logs);
        let actions: Vec<Action> = help.iter().map(|(_, a)| *a).collect();
        for a in [
            Action::Search,
            Action::Filter,
            Action::NextError,
            Action::Quit,
            Action::Down,
        ] {
            assert!(actions.contains(&a), "{a:?} missing");
        }
        let down = help.iter().find(|(_, a)| *a == Action::Down).unwrap();
        assert_eq!(down.0, "j/↓");
    }
}
