//! Child processes that are stopped, with everything they spawned, on drop.

use std::io;
use std::process::{Child, Command};

/// A server process started in its own process group; dropping it kills the
/// whole group (the server and the per-connection children it forked) and
/// reaps the server.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    name: String,
}

impl ServerProcess {
    /// Spawns `command` in a new process group.
    pub fn spawn(name: &str, mut command: Command) -> io::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
        let child = command
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {name}: {e}")))?;
        Ok(ServerProcess {
            child,
            name: name.to_owned(),
        })
    }

    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> io::Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// Kills the process group now.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Kill the group first so forked connection handlers go too.
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg("--")
                .arg(format!("-{}", self.child.id()))
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The name given at spawn, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
