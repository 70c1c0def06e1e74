//! Unified diffs of file edits (`release --dry-run --local`) and of
//! objects (`sync --dry-run`), in the form `git diff` and `kubectl diff`
//! print.

use similar::TextDiff;

/// A unified diff of `old` and `new` under `a/path` and `b/path` headers,
/// with three lines of context; empty when they are equal.
///
/// ```
/// let d = flux_cli::diff::unified("app.yaml", "a\nb\n", "a\nc\n");
/// assert_eq!(d, "--- a/app.yaml\n+++ b/app.yaml\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
/// ```
pub fn unified(path: &str, old: &str, new: &str) -> String {
    labelled(&format!("a/{path}"), &format!("b/{path}"), old, new)
}

/// A unified diff with the given header labels; empty when equal.
pub fn labelled(old_label: &str, new_label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
