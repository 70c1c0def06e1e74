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

    /// Kills the process group now, and every process it forked that left
    /// the group (sshd gives each connection a session of its own): a
    /// stopped server drops its open connections too, as a host that goes
    /// away does.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            for pid in descendants(self.child.id()) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
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

/// Every process below `root` in the process tree (from `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent_of = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}
