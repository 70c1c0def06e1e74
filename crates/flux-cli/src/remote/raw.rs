//! A terminal on stdin without line editing, echo or signal keys while the
//! `release --interactive` menu reads it, so each key arrives as typed
//! (Ctrl-C as a byte the menu takes for "abort"). Output is left as it is.
//! The previous settings come back when the guard is dropped.

use rustix::termios::{
    LocalModes, OptionalActions, SpecialCodeIndex, Termios, tcgetattr, tcsetattr,
};

/// Keeps stdin's terminal in raw input mode until dropped.
pub struct Raw {
    saved: Termios,
}

impl Raw {
    /// Puts stdin's terminal in raw input mode.
    pub fn enter() -> std::io::Result<Self> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.local_modes -= LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG;
        raw.special_codes[SpecialCodeIndex::VMIN] = 1;
        raw.special_codes[SpecialCodeIndex::VTIME] = 0;
        tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Raw { saved })
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}
