//! The commands of the Markdown pages in `docs/`, taken out of their fenced
//! blocks so a test can run every one of them: the docs cannot show a
//! command that does not work, because the test would fail.
//!
//! A fenced block's first word after the fence says what it holds:
//!
//! - `console`: commands after a `$ ` prompt, each followed by the output it
//!   prints (standard output and error together, as on a terminal). A line
//!   holding only `...` in the output stands for any number of lines, and
//!   `...` within a line for any text (a job ID, a revision).
//! - `sh`: commands only, one per line, that must succeed; `#` lines are
//!   comments.
//! - anything else (`yaml`, `text`, `promql`…) is not a command block.
//!
//! A line ending in `\` continues on the next one, in both kinds, and an
//! `sh` command's here-document (`<<'EOF'` … `EOF`) is part of it. Blocks
//! with no language, or marked `bash`/`shell`, are refused
//! ([`DocsError::Unmarked`]): a command must be in a block that is run.

use std::path::{Path, PathBuf};

/// What is wrong with a page.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// A page could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The page.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A fenced block without a language, or with one that is ambiguous.
    #[error(
        "{path}:{line}: fenced block marked {info:?}: mark it `console` or `sh` (run by the docs test) or a data language (`yaml`, `text`…)"
    )]
    Unmarked {
        /// The page.
        path: PathBuf,
        /// The fence's line (1-based).
        line: usize,
        /// Its info string.
        info: String,
    },
    /// A fence that is never closed.
    #[error("{path}:{line}: fenced block is not closed")]
    Unclosed {
        /// The page.
        path: PathBuf,
        /// The fence's line.
        line: usize,
    },
    /// A `console` block whose first line is not a command.
    #[error("{path}:{line}: console block output before any `$ ` command")]
    OutputFirst {
        /// The page.
        path: PathBuf,
        /// The line.
        line: usize,
    },
    /// A command whose last line ends in `\`, or a here-document that is
    /// not ended.
    #[error("{path}:{line}: command continues past the end of its block")]
    DanglingContinuation {
        /// The page.
        path: PathBuf,
        /// The line.
        line: usize,
    },
}

/// How a command is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// It must exit 0 (an `sh` block).
    Success,
    /// It must print these lines (a `console` block).
    Output(Vec<String>),
}

/// One command of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The page.
    pub path: PathBuf,
    /// Its first line in the page (1-based).
    pub line: usize,
    /// The command as a shell reads it (continuations kept).
    pub text: String,
    /// What it must do.
    pub expect: Expect,
}

impl Command {
    /// The first word (the program), for dispatching.
    pub fn program(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or("")
    }

    /// Where it is, `path:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }
}

/// Whether `expected` (with `...` lines standing for any run of lines)
/// matches `actual`, line by line, trailing spaces and blank lines at the
/// end ignored.
pub fn output_matches(expected: &[String], actual: &str) -> bool {
    let mut actual: Vec<&str> = actual.lines().map(str::trim_end).collect();
    // Blank lines a command prints last are not shown on the page.
    while actual.last().is_some_and(|l| l.is_empty()) {
        actual.pop();
    }
    let expected: Vec<&str> = expected.iter().map(|l| l.trim_end()).collect();
    fn go(e: &[&str], a: &[&str]) -> bool {
        match e.split_first() {
            None => a.is_empty(),
            Some((&"...", rest)) => (0..=a.len()).any(|skip| go(rest, &a[skip..])),
            Some((line, rest)) => {
                a.first().is_some_and(|a0| line_matches(line, a0)) && go(rest, &a[1..])
            }
        }
    }
    go(&expected, &actual)
}

/// One line, where `...` inside it stands for any text (a job ID, a
/// revision).
fn line_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split("...");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The commands of one page's text, in order.
pub fn commands(path: &Path, text: &str) -> Result<Vec<Command>, DocsError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, fence, info)) = fence_open(lines[i]) else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = Vec::new();
        i += 1;
        loop {
            let Some(line) = lines.get(i) else {
                return Err(DocsError::Unclosed {
                    path: path.to_owned(),
                    line: start + 1,
                });
            };
            if line.trim_start().starts_with(&fence)
                && line.trim().chars().all(|c| c == fence_char(&fence))
            {
                break;
            }
            // Lines of an indented block lose the fence's indentation.
            let stripped = match line.get(..indent) {
                Some(pad) if pad.trim().is_empty() => &line[indent..],
                _ => line.trim_start(),
            };
            body.push((i + 1, stripped));
            i += 1;
        }
        i += 1;
        let lang = info.split_whitespace().next().unwrap_or("");
        match lang {
            "console" => out.extend(console(path, start + 1, &body)?),
            "sh" => out.extend(sh(path, &body)?),
            "" | "bash" | "shell" | "zsh" => {
                return Err(DocsError::Unmarked {
                    path: path.to_owned(),
                    line: start + 1,
                    info: info.to_owned(),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The Markdown pages under `dir`, sorted.
pub fn pages(dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| DocsError::Read {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| DocsError::Read {
                    path: d.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn fence_char(fence: &str) -> char {
    fence.chars().next().unwrap_or('`')
}

/// `(indentation, fence, info)` when `line` opens a fenced block.
fn fence_open(line: &str) -> Option<(usize, String, &str)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let c = trimmed.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = trimmed.chars().take_while(|&x| x == c).count();
    if n < 3 {
        return None;
    }
    let info = trimmed[n..].trim();
    if c == '`' && info.contains('`') {
        return None;
    }
    Some((indent, c.to_string().repeat(n), info))
}

/// Joins `\`-continued lines: `(first line, text)` for each command.
fn join<'a>(
    path: &Path,
    lines: impl Iterator<Item = (usize, &'a str)>,
) -> Result<Vec<(usize, String)>, DocsError> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in lines {
        let (first, mut text) = current.take().unwrap_or((n, String::new()));
        text.push_str(line);
        if text.ends_with('\\') {
            text.push('\n');
            current = Some((first, text));
        } else {
            out.push((first, text));
        }
    }
    if let Some((first, _)) = current {
        return Err(DocsError::DanglingContinuation {
            path: path.to_owned(),
            line: first,
        });
    }
    Ok(out)
}

/// The word ending a here-document started on this line (`<<EOF`,
/// `<<'EOF'`, `<<"EOF"`, `<<-EOF`), if any.
fn heredoc_end(line: &str) -> Option<String> {
    let rest = line
        .split("<<")
        .nth(1)?
        .trim_start_matches('-')
        .trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

fn sh(path: &Path, body: &[(usize, &str)]) -> Result<Vec<Command>, DocsError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let (n, line) = body[i];
        i += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let mut cmd_lines = vec![(n, line)];
        while cmd_lines.last().is_some_and(|(_, l)| l.ends_with('\\')) && i < body.len() {
            cmd_lines.push(body[i]);
            i += 1;
        }
        let (line, mut text) = join(path, cmd_lines.into_iter())?
            .into_iter()
            .next()
            .expect("at least one line");
        // A here-document's lines belong to its command, whatever they hold.
        if let Some(end) = heredoc_end(&text) {
            loop {
                let Some((_, l)) = body.get(i) else {
                    return Err(DocsError::DanglingContinuation {
                        path: path.to_owned(),
                        line,
                    });
                };
                i += 1;
                text.push('\n');
                text.push_str(l);
                if l.trim() == end {
                    break;
                }
            }
        }
        out.push(Command {
            path: path.to_owned(),
            line,
            text,
            expect: Expect::Success,
        });
    }
    Ok(out)
}

fn console(
    path: &Path,
    fence_line: usize,
    body: &[(usize, &str)],
) -> Result<Vec<Command>, DocsError> {
    let mut out: Vec<Command> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let (n, line) = body[i];
        let Some(first) = line.strip_prefix("$ ") else {
            if line.trim().is_empty() && out.is_empty() {
                i += 1;
                continue;
            }
            return Err(DocsError::OutputFirst {
                path: path.to_owned(),
                line: if out.is_empty() { fence_line } else { n },
            });
        };
        // The command and its continuation lines.
        let mut cmd_lines = vec![(n, first)];
        i += 1;
        while cmd_lines.last().is_some_and(|(_, l)| l.ends_with('\\')) && i < body.len() {
            cmd_lines.push(body[i]);
            i += 1;
        }
        let (line, text) = join(path, cmd_lines.into_iter())?
            .into_iter()
            .next()
            .expect("at least the prompt line");
        let mut output = Vec::new();
        while i < body.len() && !body[i].1.starts_with("$ ") {
            output.push(body[i].1.to_owned());
            i += 1;
        }
        // A blank line before the next prompt separates; it is not output.
        while output.last().is_some_and(|l| l.trim().is_empty()) && i < body.len() {
            output.pop();
        }
        out.push(Command {
            path: path.to_owned(),
            line,
            text,
            expect: Expect::Output(output),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(text: &str) -> Vec<Command> {
        commands(Path::new("p.md"), text).expect("valid page")
    }

    #[test]
    fn sh_blocks_give_commands_with_continuations_and_no_comments() {
        let c = cmds("intro\n\n```sh\n# a comment\nkubectl get ns\n\nfluxd --a \\\n  --b\n```\n");
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].line, c[0].text.as_str(), &c[0].expect),
            (5, "kubectl get ns", &Expect::Success)
        );
        assert_eq!((c[1].line, c[1].text.as_str()), (7, "fluxd --a \\\n  --b"));
        assert_eq!(c[1].program(), "fluxd");
        assert_eq!(c[1].location(), "p.md:7");
    }

    #[test]
    fn here_documents_stay_with_their_command() {
        let c = cmds("```sh\ncat > k.yaml <<'EOF'\n# not a comment\nresources: []\nEOF\nls\n```\n");
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0].text,
            "cat > k.yaml <<'EOF'\n# not a comment\nresources: []\nEOF"
        );
        assert_eq!(c[1].text, "ls");
        let e = commands(Path::new("p.md"), "```sh\ncat <<EOF\nx\n```\n").expect_err("unended");
        assert!(
            matches!(e, DocsError::DanglingContinuation { line: 2, .. }),
            "{e}"
        );
    }

    #[test]
    fn console_blocks_pair_commands_with_their_output() {
        let c = cmds("```console\n$ echo a \\\n    b\na b\n\n$ true\n```\n");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].text, "echo a \\\n    b");
        assert_eq!(c[0].expect, Expect::Output(vec!["a b".into()]));
        assert_eq!(c[1].expect, Expect::Output(vec![]));
    }

    #[test]
    fn indented_blocks_lose_their_indentation() {
        let c = cmds("- a step:\n\n  ```console\n  $ echo x\n  x\n  ```\n");
        assert_eq!(c[0].text, "echo x");
        assert_eq!(c[0].expect, Expect::Output(vec!["x".into()]));
    }

    #[test]
    fn data_blocks_are_not_commands_and_unmarked_ones_are_refused() {
        assert!(cmds("```yaml\nkubectl: no\n```\n~~~text\n$ not run\n~~~\n").is_empty());
        for bad in ["```\nls\n```\n", "```bash\nls\n```\n", "```sh\nls\n"] {
            assert!(commands(Path::new("p.md"), bad).is_err(), "{bad:?}");
        }
        let e = commands(Path::new("p.md"), "x\n```\nls\n```\n").expect_err("unmarked");
        assert!(
            e.to_string()
                .starts_with("p.md:2: fenced block marked \"\""),
            "{e}"
        );
        let e = commands(Path::new("p.md"), "```console\nout\n```\n").expect_err("output first");
        assert!(matches!(e, DocsError::OutputFirst { line: 1, .. }), "{e}");
        let e = commands(Path::new("p.md"), "```sh\nls \\\n```\n").expect_err("dangling");
        assert!(
            matches!(e, DocsError::DanglingContinuation { line: 2, .. }),
            "{e}"
        );
    }

    #[test]
    fn output_matching_with_ellipses() {
        let e = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(output_matches(&e(&["a", "b"]), "a\nb  \n"));
        assert!(output_matches(&e(&["a", "b"]), "a\nb\n\n"));
        assert!(!output_matches(&e(&["a", "b"]), "a\n\nb\n"));
        assert!(!output_matches(&e(&["a"]), "a\nb\n"));
        assert!(!output_matches(&e(&["a", "b"]), "a\n"));
        assert!(output_matches(&e(&["a", "...", "z"]), "a\nb\nc\nz\n"));
        assert!(output_matches(&e(&["a", "...", "z"]), "a\nz\n"));
        assert!(!output_matches(&e(&["a", "...", "z"]), "a\nb\n"));
        assert!(output_matches(&e(&["..."]), ""));
        assert!(output_matches(&e(&[]), ""));
        assert!(output_matches(
            &e(&["job ... failed: x"]),
            "job 12ab failed: x"
        ));
        assert!(output_matches(
            &e(&["Submitting release ..."]),
            "Submitting release ..."
        ));
        assert!(!output_matches(
            &e(&["job ... failed: x"]),
            "job 12ab failed: y"
        ));
        assert!(!output_matches(&e(&["a...b...c"]), "a-c-b"));
        assert!(output_matches(&e(&["a...b...c"]), "a-b-c"));
        assert!(!output_matches(&e(&["ab...ba"]), "aba"));
    }
}
