//! Lines of the keys of a small YAML document, so that an error about a
//! `.flux.yaml` can point at the line that holds the offending key.

use std::collections::HashMap;

use saphyr_parser::Event;

use crate::yaml::SpannedEvents;

/// One open collection while walking the events.
enum Frame {
    Map {
        path: String,
        /// The key whose value comes next, once read.
        key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The 1-based line of every mapping key (`a.b`) and sequence item
/// (`a.b[0]`) of the first document of `text`. Invalid YAML gives what was
/// read before the error; the caller reports the error itself.
pub(super) fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut started = false;
    for ev in SpannedEvents::new(text) {
        let Ok(ev) = ev else { break };
        let opens = match ev.event {
            Event::DocumentStart(_) if started => break,
            Event::DocumentStart(_) => {
                started = true;
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                finish_value(&mut stack);
                continue;
            }
            Event::MappingStart(..) => Some(true),
            Event::SequenceStart(..) => Some(false),
            Event::Scalar(..) | Event::Alias(_) => None,
            _ => continue,
        };
        // This event starts a node: a key, a value or an item.
        let path = match stack.last_mut() {
            Some(Frame::Map { path, key: None }) => {
                let key = match &ev.event {
                    Event::Scalar(text, ..) => text.to_string(),
                    _ => "?".to_owned(),
                };
                let full = child(path, &key);
                lines.entry(full).or_insert(ev.line);
                if let Some(Frame::Map { key: slot, .. }) = stack.last_mut() {
                    *slot = Some(key);
                }
                if opens.is_some() {
                    break; // a complex key: not a valid .flux.yaml anyway
                }
                continue;
            }
            Some(Frame::Map {
                path,
                key: Some(key),
            }) => child(path, key),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                lines.entry(p.clone()).or_insert(ev.line);
                p
            }
            None => String::new(),
        };
        match opens {
            Some(true) => stack.push(Frame::Map { path, key: None }),
            Some(false) => stack.push(Frame::Seq { path, index: 0 }),
            None => finish_value(&mut stack),
        }
    }
    lines
}

/// A value (or item) ended: the parent expects its next key (or item).
fn finish_value(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key, .. }) => *key = None,
        Some(Frame::Seq { index, .. }) => *index += 1,
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_have_lines() {
        let text = "version: 1\npatchUpdated:\n  generators:\n  - command: a\n  - {command: b, timeout: 5}\n  patchFile: p.yaml\n";
        let lines = key_lines(text);
        for (key, line) in [
            ("version", 1),
            ("patchUpdated", 2),
            ("patchUpdated.generators", 3),
            ("patchUpdated.generators[0]", 4),
            ("patchUpdated.generators[0].command", 4),
            ("patchUpdated.generators[1].timeout", 5),
            ("patchUpdated.patchFile", 6),
        ] {
            assert_eq!(lines.get(key), Some(&line), "{key}: {lines:?}");
        }
    }
}
