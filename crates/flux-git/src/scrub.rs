//! Keeping URL passwords out of errors and logs.
//!
//! A password in `--git-url` (`https://user:password@host/…`) is given to
//! gix and the `git` program, and to nothing else. Both can echo the URL
//! back: git in its arguments, gix in some messages (a `git://` URL with
//! credentials is refused with the whole URL in the message) and in the
//! `Debug` form of the values its errors carry. So nothing they say reaches
//! an [`Error`](crate::Error), its `Debug` form or a log line before it has
//! passed through here.

use std::fmt;

/// What replaces a secret.
pub(crate) const REDACTED: &str = "<redacted>";

/// `text` with every one of `secrets` replaced.
pub(crate) fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

/// An error chain as text, with secrets removed: each layer keeps its own
/// message and its place in the chain, and nothing else (the original
/// values, whose `Debug` forms could show a URL's password, are dropped).
pub(crate) struct Scrubbed {
    message: String,
    source: Option<Box<Scrubbed>>,
}

impl Scrubbed {
    /// The chain under (and including) `error`, scrubbed of `secrets`.
    pub(crate) fn new(error: &(dyn std::error::Error + 'static), secrets: &[String]) -> Self {
        let mut messages = vec![scrub_text(&error.to_string(), secrets)];
        let mut next = error.source();
        while let Some(e) = next {
            messages.push(scrub_text(&e.to_string(), secrets));
            next = e.source();
        }
        let mut chain: Option<Box<Scrubbed>> = None;
        while let Some(message) = messages.pop() {
            chain = Some(Box::new(Scrubbed {
                message,
                source: chain,
            }));
        }
        *chain.expect("the chain holds at least `error` itself")
    }
}

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Scrubbed {
    /// The messages of the chain, like an error reporter prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut next = self.source.as_deref();
        let mut depth = 0;
        while let Some(e) = next {
            write!(f, "\n  {depth}: {}", e.message)?;
            depth += 1;
            next = e.source.as_deref();
        }
        Ok(())
    }
}

impl std::error::Error for Scrubbed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose `Debug` form shows more than its message, as gix's
    /// errors holding URLs do.
    #[derive(Debug)]
    struct Leaky {
        url: String,
        source: Option<Box<Leaky>>,
    }

    impl fmt::Display for Leaky {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "cannot use {}", self.url)
        }
    }

    impl std::error::Error for Leaky {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|s| s as _)
        }
    }

    #[test]
    fn every_layer_is_scrubbed_and_kept_in_order() {
        let error = Leaky {
            url: "git://u:hunter2@h/r".into(),
            source: Some(Box::new(Leaky {
                url: "https://u:hunter%32@h/r".into(),
                source: None,
            })),
        };
        let secrets = ["hunter2".to_owned(), "hunter%32".to_owned()];
        let scrubbed = Scrubbed::new(&error, &secrets);
        assert_eq!(scrubbed.to_string(), "cannot use git://u:<redacted>@h/r");
        let inner = std::error::Error::source(&scrubbed).unwrap();
        assert_eq!(inner.to_string(), "cannot use https://u:<redacted>@h/r");
        assert!(inner.source().is_none());
        assert_eq!(
            format!("{scrubbed:?}"),
            "cannot use git://u:<redacted>@h/r\n  0: cannot use https://u:<redacted>@h/r"
        );
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        assert_eq!(scrub_text("plain", &["".into(), "x1".into()]), "plain");
        assert_eq!(
            scrub_text("a x1 b x1", &["x1".into()]),
            "a <redacted> b <redacted>"
        );
    }
}
