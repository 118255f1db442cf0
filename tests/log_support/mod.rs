//! What a test's `tracing` subscriber wrote, kept in memory so the test can read its events
//! back (for the test binaries that check diagnostics; each installs the global subscriber).
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `tracing-subscriber` writer into memory, shared with the test that reads it.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs the global subscriber, with `filter` (`EnvFilter` syntax), writing here. The
    /// tests of one binary share it: the first call's filter holds for all of them.
    pub fn install(filter: &str) -> Captured {
        static INSTALLED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        INSTALLED
            .get_or_init(|| {
                let captured = Captured::default();
                let writer = captured.clone();
                tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_env_filter(filter)
                    .with_writer(move || writer.clone())
                    .init();
                captured
            })
            .clone()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
