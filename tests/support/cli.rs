//! The `shopsync` binary as a user runs it, and the emulator as a child process for it to talk to.
// Each test binary uses part of it.
#![allow(dead_code)]
use std::net::TcpListener;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A command for the binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shopsync"))
}

/// Standard output then standard error, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `shopsync emulator` in a child process; killed on drop.
pub struct Emulator {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts an emulator on a free loopback port that accepts `token`, and waits until it listens.
    pub fn start(token: &str) -> Emulator {
        Emulator::start_with(token, &[])
    }

    /// [`Emulator::start`] with more `shopsync emulator` arguments (`--shop`, `--seed`, ...).
    pub fn start_with(token: &str, args: &[&std::ffi::OsStr]) -> Emulator {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = bin()
            .args([
                "emulator",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--token",
                token,
            ])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let emulator = Emulator {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the emulator did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }
}
