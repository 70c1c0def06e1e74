//! Write gates: a question asked right before each write to git or to the
//! cluster, "may this process still write?". With several replicas sharing
//! a source through a Lease, only the holder may write, and it must stop
//! before the Lease can pass to another; asking once per sync or job is not
//! enough when a step writes for seconds, so the adapters ask before each
//! request. Without such a setup the gate is [`Open`].

/// Asked before each write; `Err(why)` once writes must stop.
pub trait WriteGate: Send + Sync {
    /// `Ok` while writes are allowed; otherwise why not (the message of the
    /// errors the refused writes end in).
    fn check(&self) -> Result<(), String>;
}

/// The gate that always allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Open;

impl WriteGate for Open {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl WriteGate for Closed {
        fn check(&self) -> Result<(), String> {
            Err("lease lost".into())
        }
    }

    #[test]
    fn open_allows_and_a_closed_gate_says_why() {
        let gates: [&dyn WriteGate; 2] = [&Open, &Closed];
        assert_eq!(gates[0].check(), Ok(()));
        assert_eq!(gates[1].check(), Err("lease lost".to_owned()));
    }
}
