//! `release --interactive`: the menu of a planned release's container
//! updates, all selected at first, that the user toggles before the chosen
//! ones are released, as Flux v1's fluxctl offered.
//!
//! The menu is plain state ([`Menu`]) driven by [`Key`]s, so it is tested
//! without a terminal; keys come from a terminal in raw mode (arrows, Tab,
//! `j`/`k`, Space, Enter, `q`/Esc/Ctrl-C) or from any byte stream, such as
//! a pipe, with the same meanings ([`keys`]).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use flux_api::update::{ContainerUpdate, UpdateResult, WorkloadUpdateStatus};

use crate::format::{split_tag, write_table};

/// What a key press asks of the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Move to the next update (Down, Tab, `j`).
    Down,
    /// Move to the previous update (Up, `k`).
    Up,
    /// Select or unselect the update under the cursor (Space).
    Toggle,
    /// Release the selected updates (Enter).
    Release,
    /// Release nothing (`q`, Esc, Ctrl-C, or the end of the input).
    Abort,
}

/// How the menu ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Release these updates, per workload ID.
    Release(BTreeMap<String, Vec<ContainerUpdate>>),
    /// Release nothing.
    Aborted,
}

/// One line of the menu: a container update (selectable), or a workload's
/// error or bare status.
#[derive(Debug, Clone)]
struct Item {
    id: String,
    status: String,
    error: String,
    update: Option<ContainerUpdate>,
    checked: bool,
}

/// The menu of a planned release's results.
#[derive(Debug, Clone)]
pub struct Menu {
    items: Vec<Item>,
    /// Index among the selectable items.
    cursor: usize,
}

impl Menu {
    /// The menu of `result`: every container update, selected; workloads
    /// skipped (with `verbosity` ≥ 1) or ignored (≥ 2) shown, not
    /// selectable, as in the results table.
    pub fn new(result: &UpdateResult, verbosity: u8) -> Self {
        let mut items = Vec::new();
        for (id, r) in &result.0 {
            let shown = match r.status {
                WorkloadUpdateStatus::Ignored => verbosity >= 2,
                WorkloadUpdateStatus::Skipped => verbosity >= 1,
                _ => true,
            };
            if !shown {
                continue;
            }
            let status = serde_json::to_value(&r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let item = |error: &str, update: Option<&ContainerUpdate>| Item {
                id: id.clone(),
                status: status.clone(),
                error: error.to_owned(),
                update: update.cloned(),
                checked: update.is_some(),
            };
            if !r.error.is_empty() {
                items.push(item(&r.error, None));
            }
            items.extend(r.per_container.iter().map(|u| item("", Some(u))));
            if r.error.is_empty() && r.per_container.is_empty() {
                items.push(item("", None));
            }
        }
        Menu { items, cursor: 0 }
    }

    /// How many updates can be selected.
    pub fn selectable(&self) -> usize {
        self.items.iter().filter(|i| i.update.is_some()).count()
    }

    /// Applies `key`; `Some` when the menu is done.
    pub fn press(&mut self, key: Key) -> Option<Choice> {
        let n = self.selectable();
        match key {
            Key::Down if n > 0 => self.cursor = (self.cursor + 1) % n,
            Key::Up if n > 0 => self.cursor = (self.cursor + n - 1) % n,
            Key::Toggle => {
                if let Some(item) = self
                    .items
                    .iter_mut()
                    .filter(|i| i.update.is_some())
                    .nth(self.cursor)
                {
                    item.checked = !item.checked;
                }
            }
            Key::Release => return Some(Choice::Release(self.selected())),
            Key::Abort => return Some(Choice::Aborted),
            Key::Down | Key::Up => {}
        }
        None
    }

    /// The selected updates, per workload.
    pub fn selected(&self) -> BTreeMap<String, Vec<ContainerUpdate>> {
        let mut chosen: BTreeMap<String, Vec<ContainerUpdate>> = BTreeMap::new();
        for item in self.items.iter().filter(|i| i.checked) {
            if let Some(u) = &item.update {
                chosen.entry(item.id.clone()).or_default().push(u.clone());
            }
        }
        chosen
    }

    /// The menu as text: Flux v1's results table with a cursor (`⇒`) and a
    /// box per update (`◉` selected, `◯` not), then the help line.
    pub fn render(&self) -> String {
        let mut rows = vec![vec![
            "    WORKLOAD".to_owned(),
            "STATUS".to_owned(),
            "UPDATES".to_owned(),
        ]];
        let mut index = 0;
        let mut previous: Option<&str> = None;
        for item in &self.items {
            let mut mark = String::new();
            match &item.update {
                Some(_) => {
                    mark.push(if index == self.cursor { '⇒' } else { ' ' });
                    mark.push(' ');
                    mark.push(if item.checked { '◉' } else { '◯' });
                    index += 1;
                }
                None => mark.push_str("   "),
            }
            let text = match &item.update {
                Some(u) => format!(
                    "{}: {} -> {}",
                    u.container,
                    u.current,
                    split_tag(&u.target).1
                ),
                None => item.error.clone(),
            };
            let same = previous == Some(item.id.as_str());
            previous = Some(&item.id);
            rows.push(if same {
                vec![format!("{mark} "), String::new(), text]
            } else {
                vec![format!("{mark} {}", item.id), item.status.clone(), text]
            });
        }
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = write_table(&mut out, &rows);
        let mut text = String::from_utf8_lossy(&out).into_owned();
        text.push_str(
            "\nUse arrow keys and [Space] to toggle updates; hit [Enter] to release selected.\n",
        );
        text
    }
}

/// Reads keys from `input` until the menu is done. On a terminal
/// (`redraw`), the menu is written again in place after each key;
/// otherwise it is written once. The end of the input aborts.
pub fn run(
    menu: &mut Menu,
    input: &mut dyn Read,
    out: &mut dyn Write,
    redraw: bool,
) -> io::Result<Choice> {
    let mut shown = menu.render();
    out.write_all(shown.as_bytes())?;
    out.flush()?;
    let mut pending = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            // A lone Esc waiting for more is an Esc.
            let last = keys(&pending, true).0;
            for key in last.into_iter().chain([Key::Abort]) {
                if let Some(choice) = menu.press(key) {
                    return Ok(choice);
                }
            }
        }
        pending.extend_from_slice(&buf[..n]);
        let (found, used) = keys(&pending, false);
        pending.drain(..used);
        for key in found {
            if let Some(choice) = menu.press(key) {
                return Ok(choice);
            }
            if redraw {
                // Up to the menu's first line, then the menu over it.
                let lines = shown.lines().count();
                write!(out, "\x1b[{lines}A\r\x1b[J")?;
                shown = menu.render();
                out.write_all(shown.as_bytes())?;
                out.flush()?;
            }
        }
    }
}

/// The keys in `bytes`, and how many bytes they took. An Esc that may
/// begin an arrow's sequence waits for more unless `end`.
pub fn keys(bytes: &[u8], end: bool) -> (Vec<Key>, usize) {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (key, len) = match bytes[i] {
            b' ' => (Some(Key::Toggle), 1),
            b'\r' | b'\n' => (Some(Key::Release), 1),
            b'\t' | b'j' => (Some(Key::Down), 1),
            b'k' => (Some(Key::Up), 1),
            b'q' | 3 => (Some(Key::Abort), 1),
            0x1b => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'['), Some(b'A')) => (Some(Key::Up), 3),
                (Some(b'['), Some(b'B')) => (Some(Key::Down), 3),
                (Some(b'['), Some(_)) => (None, 3),
                (Some(b'['), None) | (None, _) if !end => break,
                _ => (Some(Key::Abort), 1),
            },
            _ => (None, 1),
        };
        found.extend(key);
        i += len;
    }
    (found, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flux_api::update::WorkloadResult;

    fn update(container: &str, current: &str, target: &str) -> ContainerUpdate {
        ContainerUpdate {
            container: container.into(),
            current: current.into(),
            target: target.into(),
        }
    }

    fn result() -> UpdateResult {
        UpdateResult(BTreeMap::from([
            (
                "demo:deployment/web".to_owned(),
                WorkloadResult {
                    status: WorkloadUpdateStatus::Success,
                    error: String::new(),
                    per_container: vec![
                        update("web", "r.io/web:1.0", "r.io/web:1.2"),
                        update("side", "r.io/side:2", "r.io/side:3"),
                    ],
                },
            ),
            (
                "demo:deployment/worker".to_owned(),
                WorkloadResult {
                    status: WorkloadUpdateStatus::Skipped,
                    error: "locked".into(),
                    per_container: vec![],
                },
            ),
            (
                "default:deployment/tools".to_owned(),
                WorkloadResult {
                    status: WorkloadUpdateStatus::Success,
                    error: String::new(),
                    per_container: vec![update("tools", "r.io/tools:0.1", "r.io/tools:0.2")],
                },
            ),
        ]))
    }

    #[test]
    fn everything_is_selected_at_first_and_skipped_workloads_need_v() {
        let menu = Menu::new(&result(), 0);
        assert_eq!(menu.selectable(), 3);
        assert_eq!(
            menu.render(),
            "    WORKLOAD                  STATUS   UPDATES\n\
             ⇒ ◉ default:deployment/tools  success  tools: r.io/tools:0.1 -> 0.2\n\
             \x20 ◉ demo:deployment/web       success  web: r.io/web:1.0 -> 1.2\n\
             \x20 ◉                                    side: r.io/side:2 -> 3\n\
             \n\
             Use arrow keys and [Space] to toggle updates; hit [Enter] to release selected.\n"
        );
        let menu = Menu::new(&result(), 1);
        assert!(
            menu.render()
                .contains("    demo:deployment/worker    skipped  locked\n"),
            "{}",
            menu.render()
        );
        assert_eq!(menu.selectable(), 3);
    }

    #[test]
    fn keys_move_toggle_and_release() {
        let mut menu = Menu::new(&result(), 1);
        // Down to web's first update, unselect it; Up, Up wraps to side.
        for key in [Key::Down, Key::Toggle, Key::Up, Key::Up] {
            assert_eq!(menu.press(key), None);
        }
        assert!(
            menu.render()
                .contains("⇒ ◉                                    side:")
        );
        assert!(menu.render().contains("  ◯ demo:deployment/web"));
        let Some(Choice::Release(chosen)) = menu.press(Key::Release) else {
            panic!("released");
        };
        assert_eq!(
            chosen,
            BTreeMap::from([
                (
                    "default:deployment/tools".to_owned(),
                    vec![update("tools", "r.io/tools:0.1", "r.io/tools:0.2")]
                ),
                (
                    "demo:deployment/web".to_owned(),
                    vec![update("side", "r.io/side:2", "r.io/side:3")]
                ),
            ])
        );
        assert_eq!(menu.press(Key::Abort), Some(Choice::Aborted));
    }

    #[test]
    fn bytes_are_keys_arrows_included() {
        assert_eq!(
            keys(b" \tjk\x1b[A\x1b[Bq\x03\r\nx", false),
            (
                vec![
                    Key::Toggle,
                    Key::Down,
                    Key::Down,
                    Key::Up,
                    Key::Up,
                    Key::Down,
                    Key::Abort,
                    Key::Abort,
                    Key::Release,
                    Key::Release,
                ],
                15
            )
        );
        // An Esc at the end waits for the rest of an arrow, unless the
        // input ended.
        assert_eq!(keys(b"j\x1b", false), (vec![Key::Down], 1));
        assert_eq!(keys(b"\x1b[", false), (vec![], 0));
        assert_eq!(keys(b"\x1b", true), (vec![Key::Abort], 1));
        assert_eq!(keys(b"\x1bx", false), (vec![Key::Abort], 2));
    }

    #[test]
    fn run_reads_a_pipe_and_the_end_aborts() {
        let mut menu = Menu::new(&result(), 0);
        let first = menu.render();
        let mut out = Vec::new();
        let choice = run(&mut menu, &mut &b"j \n"[..], &mut out, false).expect("run");
        let Choice::Release(chosen) = choice else {
            panic!("released")
        };
        assert_eq!(chosen.len(), 2);
        assert_eq!(chosen["demo:deployment/web"].len(), 1);
        // Written once, without redrawing.
        assert_eq!(String::from_utf8(out).expect("UTF-8"), first);
        let mut menu = Menu::new(&result(), 0);
        let choice = run(&mut menu, &mut &b"  "[..], &mut Vec::new(), false).expect("run");
        assert_eq!(choice, Choice::Aborted);
    }

    #[test]
    fn a_terminal_gets_the_menu_redrawn_in_place() {
        let mut menu = Menu::new(&result(), 0);
        let mut out = Vec::new();
        run(&mut menu, &mut &b" \r"[..], &mut out, true).expect("run");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text.matches("\x1b[6A\r\x1b[J").count(), 1, "{text}");
        assert!(text.ends_with(&menu.render()));
        assert!(menu.render().contains("⇒ ◯ default:deployment/tools"));
    }
}
